//! Object storage end to end, against a real S3 server (s3s-fs on 127.0.0.1,
//! SigV4 checked), a static HTTP server with Range support, and a
//! fault-injecting proxy: conversions local → S3, S3 → S3, S3 → local and
//! HTTP → local are byte-identical to a local one; access problems give one
//! clear line and write nothing; transient faults are retried; a failure
//! beyond the retry budget resumes; secrets never reach the output;
//! `convert-many` takes an S3 prefix of products to an S3 output prefix.

#[path = "../common/mod.rs"]
mod common;
mod http;
mod proxy;
mod server;

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use proxy::{FaultProxy, Faults};
use server::{S3Server, SECRET};

fn run(mut c: Command, args: &[&str]) -> Output {
    c.args(args).output().expect("run eopf-geozarr")
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// Run and require success; returns stdout. Secrets must not appear anywhere.
fn ok(c: Command, args: &[&str]) -> String {
    let o = run(c, args);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{args:?} failed:\n{out}\n{err}");
    assert_no_secret(&out, &err);
    out
}

/// Run and require a failure with one error line holding every needle;
/// secrets must not appear anywhere.
fn fails(c: Command, args: &[&str], needles: &[&str]) -> String {
    let (out, err) = common::fails_cmd(c, args, needles);
    assert_no_secret(&out, &err);
    err
}

fn assert_no_secret(out: &str, err: &str) {
    for s in [SECRET, "wrong-secret-Zz9", TOKEN] {
        assert!(
            !out.contains(s) && !err.contains(s),
            "a secret leaked into the output:\n{out}\n{err}"
        );
    }
}

const TOKEN: &str = "session-token-Fq3Xe8Vd2Ku5";

/// A small product and its local conversion (the reference bytes).
fn product(tmp: &Path) -> (String, std::path::PathBuf) {
    let input = tmp.join("in.zarr");
    let reference = tmp.join("ref.zarr");
    common::make_small_input(&input);
    common::cli_ok(&[
        "convert",
        input.to_str().unwrap(),
        reference.to_str().unwrap(),
    ]);
    (input.to_str().unwrap().to_string(), reference)
}

#[test]
fn local_s3_and_back_are_identical_to_a_local_conversion_and_read_in_xarray() {
    let tmp = tempfile::tempdir().unwrap();
    let (input, reference) = product(tmp.path());
    let s3 = S3Server::start();
    s3.upload_dir(Path::new(&input), "products/in.zarr");

    // local → S3
    let out = ok(s3.cli(), &["convert", &input, "s3://bucket/out/a.zarr"]);
    assert!(out.contains("into s3://bucket/out/a.zarr"), "{out}");
    common::assert_same_store(&reference, &s3.dir("bucket/out/a.zarr"));
    // S3 → S3
    ok(
        s3.cli(),
        &[
            "convert",
            "s3://bucket/products/in.zarr",
            "s3://bucket/out/b.zarr",
        ],
    );
    common::assert_same_store(&reference, &s3.dir("bucket/out/b.zarr"));
    // S3 → local
    let local = tmp.path().join("c.zarr");
    ok(
        s3.cli(),
        &[
            "convert",
            "s3://bucket/products/in.zarr",
            local.to_str().unwrap(),
        ],
    );
    common::assert_same_store(&reference, &local);
    // the access probes left nothing behind (the stores above hold exactly
    // the reference keys); nothing but our outputs in the bucket
    let mut top: Vec<_> = std::fs::read_dir(s3.dir("bucket"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    top.sort();
    assert_eq!(top, ["out", "products"]);

    // a finished S3 store re-run resumes: everything skipped, same bytes
    let out = ok(
        s3.cli(),
        &[
            "convert",
            "s3://bucket/products/in.zarr",
            "s3://bucket/out/b.zarr",
        ],
    );
    assert!(out.contains("resumed: 12 bands"), "{out}");
    common::assert_same_store(&reference, &s3.dir("bucket/out/b.zarr"));
    // a foreign prefix is refused, --overwrite replaces it
    fails(
        s3.cli(),
        &["convert", &input, "s3://bucket/products"],
        &["s3://bucket/products", "not a GeoZarr store", "--overwrite"],
    );
    fails(
        s3.cli(),
        &[
            "convert",
            "s3://bucket/products/in.zarr",
            "s3://bucket/products/in.zarr/x",
        ],
        &["output is the input or inside it"],
    );
    ok(
        s3.cli(),
        &["convert", &input, "s3://bucket/out/b.zarr", "--overwrite"],
    );
    common::assert_same_store(&reference, &s3.dir("bucket/out/b.zarr"));

    // info and validate read S3 stores (and S3 products) like local ones
    assert_same_report(
        &s3,
        &["info", "--json"],
        "s3://bucket/out/a.zarr",
        &reference,
    );
    assert_same_report(
        &s3,
        &["validate", "--json", "--deep"],
        "s3://bucket/out/a.zarr",
        &reference,
    );
    let info = ok(s3.cli(), &["info", "s3://bucket/products/in.zarr"]);
    assert!(
        info.contains("s3://bucket/products/in.zarr: Zarr v2"),
        "{info}"
    );

    // zarr-python and xarray read it through s3fs, equal to the local store
    let o = Command::new(common::python())
        .arg(common::root().join("tests/python/s3_read.py"))
        .args(["s3://bucket/out/a.zarr", reference.to_str().unwrap()])
        .env("AWS_ACCESS_KEY_ID", server::KEY)
        .env("AWS_SECRET_ACCESS_KEY", SECRET)
        .env("AWS_ENDPOINT_URL", s3.endpoint())
        .output()
        .unwrap();
    let (out, err) = text(&o);
    assert!(o.status.success(), "s3_read.py failed:\n{out}\n{err}");
    assert!(out.contains("s3 read ok"), "{out}");
}

#[test]
fn conventions_profile_with_shards_to_s3_equals_the_local_store_and_resumes() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in.zarr");
    common::cli_ok(&["synth", input.to_str().unwrap(), "--scale", "40"]);
    let reference = tmp.path().join("ref.zarr");
    let args = ["--profile", "conventions", "--shard"];
    let mut a = vec![
        "convert",
        input.to_str().unwrap(),
        reference.to_str().unwrap(),
    ];
    a.extend(args);
    common::cli_ok(&a);
    let s3 = S3Server::start();
    s3.upload_dir(&input, "products/in.zarr");
    let mut a = vec![
        "convert",
        "s3://bucket/products/in.zarr",
        "s3://bucket/out/c.zarr",
    ];
    a.extend(args);
    let out = ok(s3.cli(), &a);
    assert!(out.contains("into s3://bucket/out/c.zarr"), "{out}");
    // each shard put whole: the same files and bytes as the local run
    common::assert_same_store(&reference, &s3.dir("bucket/out/c.zarr"));
    // a re-run resumes (everything skipped), validate reads it from S3
    let out = ok(s3.cli(), &a);
    assert!(out.contains("resumed:"), "{out}");
    common::assert_same_store(&reference, &s3.dir("bucket/out/c.zarr"));
    let v = ok(s3.cli(), &["validate", "s3://bucket/out/c.zarr", "--deep"]);
    assert!(
        v.contains("profile conventions") && v.contains(" 0 fail"),
        "{v}"
    );
}

/// `info`/`validate` (args[0], flags args[1..]) print the same JSON for a
/// remote store as for its local twin, but for the location.
fn assert_same_report(s3: &S3Server, args: &[&str], remote: &str, local: &Path) {
    let (cmd, flags) = (args[0], &args[1..]);
    let run_on = |at: &str| {
        let mut a = vec![cmd, at];
        a.extend(flags);
        let c = if at.starts_with('/') {
            common::bin()
        } else {
            s3.cli()
        };
        let mut v: serde_json::Value = serde_json::from_str(&ok(c, &a)).unwrap();
        assert_eq!(v["location"], at);
        v["location"] = serde_json::Value::Null;
        v
    };
    let (r, l) = (run_on(remote), run_on(local.to_str().unwrap()));
    assert!(
        r == l,
        "{cmd} differs between {remote} and {}",
        local.display()
    );
}

#[test]
fn http_input_with_range_requests_converts_identically() {
    let tmp = tempfile::tempdir().unwrap();
    let (input, reference) = product(tmp.path());
    let server = http::StaticServer::start(tmp.path().to_path_buf(), true);
    let url = format!("http://127.0.0.1:{}/in.zarr", server.port());

    let out_dir = tmp.path().join("from-http.zarr");
    common::cli_ok(&["convert", &url, out_dir.to_str().unwrap()]);
    common::assert_same_store(&reference, &out_dir);
    assert!(server.requests.load(std::sync::atomic::Ordering::SeqCst) > 20);

    // byte ranges through our store: what a sharded or partial read asks for
    let loc = geozarr_core::store::Location::parse(&url).unwrap();
    let store = geozarr_core::store::open_input(&loc).unwrap();
    let key = zarrs::storage::StoreKey::new(".zmetadata").unwrap();
    let whole = std::fs::read(Path::new(&input).join(".zmetadata")).unwrap();
    use zarrs::storage::byte_range::ByteRange;
    let part = store
        .get_partial(&key, ByteRange::FromStart(10, Some(25)))
        .unwrap()
        .unwrap();
    assert_eq!(&part[..], &whole[10..35]);
    let tail = store
        .get_partial(&key, ByteRange::Suffix(7))
        .unwrap()
        .unwrap();
    assert_eq!(&tail[..], &whole[whole.len() - 7..]);
    assert!(
        server
            .range_requests
            .load(std::sync::atomic::Ordering::SeqCst)
            >= 2
    );

    // info and validate over HTTP(S)
    let ref_url = format!("http://127.0.0.1:{}/ref.zarr", server.port());
    let s3 = S3Server::start();
    assert_same_report(&s3, &["info", "--json"], &ref_url, &reference);
    assert_same_report(&s3, &["validate", "--json", "--deep"], &ref_url, &reference);

    // not a product / no server: one clear line
    let missing = format!("http://127.0.0.1:{}/nothing.zarr", server.port());
    fails(
        common::bin(),
        &["convert", &missing, tmp.path().join("x").to_str().unwrap()],
        &["nothing.zarr"],
    );
    let dead = format!("http://127.0.0.1:{}/in.zarr", server::free_port());
    fails(
        common::bin(),
        &["convert", &dead, tmp.path().join("y").to_str().unwrap()],
        &["server unreachable", "Connection refused"],
    );
    assert!(!tmp.path().join("x").exists() && !tmp.path().join("y").exists());
    // a server ignoring Range headers: named as such
    let no_ranges = http::StaticServer::start(tmp.path().to_path_buf(), false);
    let url2 = format!("http://127.0.0.1:{}/in.zarr", no_ranges.port());
    fails(
        common::bin(),
        &["convert", &url2, tmp.path().join("z").to_str().unwrap()],
        &["in.zarr", "does not honour HTTP Range requests"],
    );
    fails(
        common::bin(),
        &["info", &url2],
        &["does not honour HTTP Range requests"],
    );
    // HTTP is read-only
    fails(
        common::bin(),
        &["convert", &input, &url.replace("in.zarr", "out.zarr")],
        &["read-only"],
    );
}

#[test]
fn access_problems_give_one_clear_line_and_write_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let (input, reference) = product(tmp.path());
    let s3 = S3Server::start();
    s3.upload_dir(Path::new(&input), "in.zarr");
    let before = common::files(s3.root.path());
    let local_out = tmp.path().join("never.zarr");
    let lo = local_out.to_str().unwrap();

    let wrong = || {
        let mut c = s3.cli();
        c.env("AWS_SECRET_ACCESS_KEY", "wrong-secret-Zz9");
        c
    };
    fails(
        wrong(),
        &["convert", &input, "s3://bucket/out.zarr"],
        &[
            "s3://bucket/out.zarr",
            "rejected the credentials",
            "SignatureDoesNotMatch",
            "AWS_SECRET_ACCESS_KEY",
        ],
    );
    fails(
        wrong(),
        &["convert", "s3://bucket/in.zarr", lo],
        &["s3://bucket/in.zarr", "rejected the credentials"],
    );
    let mut unknown_key = s3.cli();
    unknown_key.env("AWS_ACCESS_KEY_ID", "NOSUCHKEY");
    fails(
        unknown_key,
        &["convert", &input, "s3://bucket/out.zarr"],
        &["rejected the credentials", "NOSUCHKEY"],
    );
    fails(
        s3.cli(),
        &["convert", &input, "s3://no-such-bucket/out.zarr"],
        &["bucket 'no-such-bucket' does not exist", "create it"],
    );
    let dead = format!("http://127.0.0.1:{}", server::free_port());
    fails(
        s3.cli_at(&dead),
        &["convert", &input, "s3://bucket/out.zarr"],
        &["cannot reach the S3 endpoint", &dead, "AWS_ENDPOINT_URL"],
    );
    let mut none = s3.cli();
    none.env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY");
    fails(
        none,
        &["convert", &input, "s3://bucket/out.zarr"],
        &[
            "no S3 credentials found",
            "AWS_ACCESS_KEY_ID",
            "AWS_PROFILE",
        ],
    );
    let mut profile = s3.cli();
    profile.env("AWS_PROFILE", "missing-profile");
    profile.env_remove("AWS_ACCESS_KEY_ID");
    fails(
        profile,
        &["convert", &input, "s3://bucket/out.zarr"],
        &["AWS_PROFILE=missing-profile"],
    );
    // writes denied (the proxy answers PUTs with 403 AccessDenied)
    let deny = FaultProxy::start(
        s3.port,
        Faults {
            deny_put: true,
            ..Default::default()
        },
    );
    fails(
        s3.cli_at(&deny.endpoint()),
        &["convert", &input, "s3://bucket/out.zarr"],
        &["no write permission", "AccessDenied", "s3:PutObject"],
    );
    assert_eq!(deny.count(|s| &s.denied), 1, "one probe, then stop");

    // listing denied: an input is still read (s3:GetObject is enough), an
    // output is refused (resume and --overwrite need listings)
    let no_list = FaultProxy::start(
        s3.port,
        Faults {
            deny_list: true,
            ..Default::default()
        },
    );
    fails(
        s3.cli_at(&no_list.endpoint()),
        &["convert", &input, "s3://bucket/out.zarr"],
        &["access denied reading bucket 'bucket'", "s3:ListBucket"],
    );

    assert_eq!(
        before,
        common::files(s3.root.path()),
        "a failed access check must not write anything"
    );
    assert!(!local_out.exists());
    ok(
        s3.cli_at(&no_list.endpoint()),
        &["convert", "s3://bucket/in.zarr", lo],
    );
    common::assert_same_store(&reference, &local_out);
    assert!(no_list.count(|s| &s.denied) >= 2);
}

#[test]
fn credentials_from_a_profile_in_the_shared_files() {
    let tmp = tempfile::tempdir().unwrap();
    let (input, reference) = product(tmp.path());
    let s3 = S3Server::start();
    let aws = s3.home.path().join(".aws");
    std::fs::create_dir_all(&aws).unwrap();
    std::fs::write(
        aws.join("credentials"),
        format!(
            "[default]\naws_access_key_id = WRONG\naws_secret_access_key = wrong-secret-Zz9\n\n\
             [local]\naws_access_key_id = {}\naws_secret_access_key = {SECRET}\n",
            server::KEY
        ),
    )
    .unwrap();
    std::fs::write(
        aws.join("config"),
        format!(
            "[profile local]\nregion = eu-west-3\nendpoint_url = {}\n",
            s3.endpoint()
        ),
    )
    .unwrap();
    let mut c = s3.cli();
    c.env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env_remove("AWS_ENDPOINT_URL")
        .env_remove("AWS_REGION")
        .env("AWS_PROFILE", "local");
    ok(c, &["convert", &input, "s3://bucket/p.zarr"]);
    common::assert_same_store(&reference, &s3.dir("bucket/p.zarr"));
    // the default profile's wrong key is reported as such
    let mut c = s3.cli();
    c.env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY");
    fails(
        c,
        &["convert", &input, "s3://bucket/q.zarr"],
        &[
            "rejected the credentials",
            "access key WRONG from profile default",
        ],
    );
}

#[test]
fn transient_faults_are_retried_to_identical_output() {
    let tmp = tempfile::tempdir().unwrap();
    let (input, reference) = product(tmp.path());
    let s3 = S3Server::start();
    s3.upload_dir(Path::new(&input), "in.zarr");
    let faulty = Faults {
        unavailable_pct: 15,
        drop_pct: 10,
        delay_pct: 10,
        delay: Duration::from_millis(300),
        ..Default::default()
    };
    let proxy = FaultProxy::start(s3.port, faulty);
    let ep = proxy.endpoint();
    // writes through the proxy
    ok(
        s3.cli_at(&ep),
        &[
            "convert",
            &input,
            "s3://bucket/a.zarr",
            "--max-retries",
            "10",
            "--verbose",
        ],
    );
    common::assert_same_store(&reference, &s3.dir("bucket/a.zarr"));
    // reads through the proxy
    let local = tmp.path().join("b.zarr");
    ok(
        s3.cli_at(&ep),
        &[
            "convert",
            "s3://bucket/in.zarr",
            local.to_str().unwrap(),
            "--max-retries",
            "10",
        ],
    );
    common::assert_same_store(&reference, &local);
    let (u, d, l) = (
        proxy.count(|s| &s.unavailable),
        proxy.count(|s| &s.dropped),
        proxy.count(|s| &s.delayed),
    );
    assert!(
        u > 5 && d > 5 && l > 5,
        "faults injected: 503 {u}, dropped {d}, delayed {l}"
    );
}

#[test]
fn faults_beyond_the_retry_budget_fail_cleanly_and_a_rerun_resumes() {
    let tmp = tempfile::tempdir().unwrap();
    let (input, reference) = product(tmp.path());
    let s3 = S3Server::start();
    // every request from the 80th on gets a 503: the run dies midway
    let proxy = FaultProxy::start(
        s3.port,
        Faults {
            fail_from: Some(80),
            ..Default::default()
        },
    );
    let err = fails(
        s3.cli_at(&proxy.endpoint()),
        &[
            "convert",
            &input,
            "s3://bucket/out.zarr",
            "--max-retries",
            "2",
        ],
        &["503", "after 2 retries"],
    );
    assert!(err.contains("s3://bucket/out.zarr/"), "{err}");
    let out_dir = s3.dir("bucket/out.zarr");
    let root = common::json(&out_dir.join("zarr.json"));
    assert!(
        root.get("consolidated_metadata").is_none(),
        "a failed store must not look complete"
    );
    let written = common::files(&out_dir).len();
    assert!(
        written > 10,
        "the run should have written part of the store ({written})"
    );

    // the faults clear: the re-run resumes and finishes with the same bytes
    proxy.faults.lock().unwrap().fail_from = None;
    let out = ok(
        s3.cli_at(&proxy.endpoint()),
        &["convert", &input, "s3://bucket/out.zarr"],
    );
    assert!(out.contains("resumed:"), "{out}");
    common::assert_same_store(&reference, &out_dir);
}

#[test]
fn secrets_never_appear_in_logs_at_any_verbosity() {
    let tmp = tempfile::tempdir().unwrap();
    let (input, _) = product(tmp.path());
    let s3 = S3Server::start();
    // trace-level logs of every crate, with a session token in play
    let mut c = s3.cli();
    c.env("AWS_SESSION_TOKEN", TOKEN).env("RUST_LOG", "trace");
    let o = run(c, &["convert", &input, "s3://bucket/t.zarr", "--verbose"]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}\n{err}");
    assert!(err.lines().count() > 100, "trace logs expected:\n{err}");
    assert!(err.contains("s3://bucket/t.zarr"), "{err}");
    assert_no_secret(&out, &err);
    // --verbose alone, through retries and a failing run
    let proxy = FaultProxy::start(
        s3.port,
        Faults {
            unavailable_pct: 30,
            fail_from: Some(60),
            ..Default::default()
        },
    );
    let mut c = s3.cli_at(&proxy.endpoint());
    c.env("AWS_SESSION_TOKEN", TOKEN);
    let o = run(
        c,
        &[
            "convert",
            &input,
            "s3://bucket/u.zarr",
            "--verbose",
            "--max-retries",
            "1",
        ],
    );
    let (out, err) = text(&o);
    assert!(!o.status.success());
    assert!(err.contains("503"), "{err}");
    assert_no_secret(&out, &err);
}

#[test]
fn info_and_validate_read_s3_and_http_products_and_say_what_is_missing() {
    let tmp = tempfile::tempdir().unwrap();
    let (input, _) = product(tmp.path());
    let s3 = S3Server::start();
    s3.upload_dir(Path::new(&input), "in.zarr");
    let server = http::StaticServer::start(tmp.path().to_path_buf(), true);
    let http = |name: &str| format!("http://127.0.0.1:{}/{name}", server.port());
    // an EOPF product (Zarr v2) reads the same remotely as locally
    for args in [["info", "--json"], ["validate", "--json"]] {
        assert_same_report(&s3, &args, "s3://bucket/in.zarr", Path::new(&input));
        assert_same_report(&s3, &args, &http("in.zarr"), Path::new(&input));
    }
    for cmd in ["info", "validate"] {
        fails(
            s3.cli(),
            &[cmd, "s3://bucket/nothing.zarr"],
            &["nothing.zarr", "not a Zarr store"],
        );
        fails(
            common::bin(),
            &[cmd, &http("nothing.zarr")],
            &["nothing.zarr", "not a Zarr store"],
        );
    }
}

#[test]
fn convert_many_from_an_s3_prefix_to_an_s3_prefix_in_process_and_on_a_cluster() {
    let tmp = tempfile::tempdir().unwrap();
    let (input, reference) = product(tmp.path());
    let s3 = S3Server::start();
    let names = ["S2A_a.zarr", "S2B_b.zarr"];
    for n in names {
        s3.upload_dir(Path::new(&input), &format!("archive/{n}"));
    }
    // an object beside the products is not one
    std::fs::write(s3.dir("bucket/archive/README.txt"), "notes").unwrap();
    for (tag, extra) in [
        ("inproc", vec![]),
        (
            "cluster",
            vec!["--local-workers", "2", "--dashboard", "off"],
        ),
    ] {
        let report = tmp.path().join(format!("{tag}.json"));
        let prefix = format!("s3://bucket/conv-{tag}");
        let mut args = vec![
            "convert-many",
            "s3://bucket/archive",
            "--output-prefix",
            &prefix,
            "--report",
            report.to_str().unwrap(),
        ];
        args.extend(&extra);
        let out = ok(s3.cli(), &args);
        assert!(out.contains("2 converted"), "{tag}: {out}");
        for n in names {
            common::assert_same_store(&reference, &s3.dir(&format!("bucket/conv-{tag}/{n}")));
        }
        // a re-run skips both
        let out = ok(s3.cli(), &args);
        assert_eq!(
            common::report_statuses(&report),
            ["skipped", "skipped"],
            "{tag}: {out}"
        );
    }
}
