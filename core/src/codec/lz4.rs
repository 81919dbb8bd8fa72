//! The numcodecs `lz4` compressor (Zarr v2 id `lz4`, v3 `numcodecs.lz4`),
//! registered with zarrs, which has no lz4 codec of its own. numcodecs
//! stores a chunk as its decoded size (4 bytes, little-endian) followed by
//! one LZ4 block.

use std::borrow::Cow;
use std::sync::Arc;

use serde_json::{Map, Value};
use zarrs::array::codec::api::{
    BytesToBytesCodecTraits, Codec, CodecError, CodecMetadataOptions, CodecOptions, CodecPluginV2,
    CodecPluginV3, CodecTraits, CodecTraitsV2, CodecTraitsV3, PartialDecoderCapability,
    PartialEncoderCapability, RecommendedConcurrency,
};
use zarrs::array::{ArrayBytesRaw, BytesRepresentation};
use zarrs::metadata::v2::MetadataV2;
use zarrs::metadata::v3::MetadataV3;
use zarrs::metadata::Configuration;
use zarrs::plugin::{PluginCreateError, ZarrVersion};

/// numcodecs' LZ4 compressor: `acceleration` only matters when encoding.
#[derive(Clone, Debug)]
pub(crate) struct Lz4Codec {
    acceleration: i64,
}

zarrs::plugin::impl_extension_aliases!(Lz4Codec,
    v3: "numcodecs.lz4", [],
    v2: "lz4", []
);

inventory::submit! {
    CodecPluginV3::new::<Lz4Codec>()
}

inventory::submit! {
    CodecPluginV2::new::<Lz4Codec>()
}

impl Lz4Codec {
    fn from_configuration(c: &Configuration) -> Self {
        let acceleration = c.get("acceleration").and_then(Value::as_i64).unwrap_or(1);
        Lz4Codec { acceleration }
    }
}

impl CodecTraitsV3 for Lz4Codec {
    fn create(metadata: &MetadataV3) -> Result<Codec, PluginCreateError> {
        let c = metadata.configuration().cloned().unwrap_or_default();
        Ok(Codec::BytesToBytes(Arc::new(Self::from_configuration(&c))))
    }
}

impl CodecTraitsV2 for Lz4Codec {
    fn create(metadata: &MetadataV2) -> Result<Codec, PluginCreateError> {
        let c = metadata.configuration().clone();
        Ok(Codec::BytesToBytes(Arc::new(Self::from_configuration(&c))))
    }
}

impl CodecTraits for Lz4Codec {
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }

    fn configuration(
        &self,
        _version: ZarrVersion,
        _options: &CodecMetadataOptions,
    ) -> Option<Configuration> {
        let mut m = Map::new();
        m.insert("acceleration".into(), Value::from(self.acceleration));
        Some(Configuration::from(m))
    }

    fn partial_decoder_capability(&self) -> PartialDecoderCapability {
        PartialDecoderCapability {
            partial_read: false,
            partial_decode: false,
        }
    }

    fn partial_encoder_capability(&self) -> PartialEncoderCapability {
        PartialEncoderCapability {
            partial_encode: false,
        }
    }
}

impl BytesToBytesCodecTraits for Lz4Codec {
    fn into_dyn(self: Arc<Self>) -> Arc<dyn BytesToBytesCodecTraits> {
        self as Arc<dyn BytesToBytesCodecTraits>
    }

    fn recommended_concurrency(
        &self,
        _decoded_representation: &BytesRepresentation,
    ) -> Result<RecommendedConcurrency, CodecError> {
        Ok(RecommendedConcurrency::new_maximum(1))
    }

    fn encode<'a>(
        &self,
        decoded_value: ArrayBytesRaw<'a>,
        _options: &CodecOptions,
    ) -> Result<ArrayBytesRaw<'a>, CodecError> {
        Ok(Cow::Owned(encode(&decoded_value)?))
    }

    fn decode<'a>(
        &self,
        encoded_value: ArrayBytesRaw<'a>,
        _decoded_representation: &BytesRepresentation,
        _options: &CodecOptions,
    ) -> Result<ArrayBytesRaw<'a>, CodecError> {
        Ok(Cow::Owned(decode(&encoded_value)?))
    }

    fn encoded_representation(
        &self,
        decoded_representation: &BytesRepresentation,
    ) -> BytesRepresentation {
        decoded_representation
            .size()
            .map_or(BytesRepresentation::UnboundedSize, |size| {
                BytesRepresentation::BoundedSize(
                    4 + lz4_flex::block::get_maximum_output_size(size as usize) as u64,
                )
            })
    }
}

/// A chunk in numcodecs' LZ4 form: decoded size, then one LZ4 block.
pub(crate) fn encode(raw: &[u8]) -> Result<Vec<u8>, CodecError> {
    let n = u32::try_from(raw.len())
        .map_err(|_| CodecError::Other("lz4: chunk larger than 4 GiB".into()))?;
    let mut out = n.to_le_bytes().to_vec();
    out.extend(lz4_flex::block::compress(raw));
    Ok(out)
}

/// The bytes of a chunk in numcodecs' LZ4 form.
pub(crate) fn decode(enc: &[u8]) -> Result<Vec<u8>, CodecError> {
    let (head, block) = enc
        .split_first_chunk::<4>()
        .ok_or_else(|| CodecError::Other("lz4: chunk shorter than its 4-byte header".into()))?;
    let n = u32::from_le_bytes(*head) as usize;
    let mut out = vec![0u8; n];
    let got = lz4_flex::block::decompress_into(block, &mut out)
        .map_err(|e| CodecError::Other(format!("lz4: damaged block ({e})")))?;
    if got != n {
        return Err(CodecError::Other(format!(
            "lz4: block decodes to {got} bytes, header says {n}"
        )));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_damage() {
        let raw: Vec<u8> = (0..100_000u32).map(|i| (i % 97) as u8).collect();
        let enc = encode(&raw).unwrap();
        assert!(enc.len() < raw.len() / 10);
        assert_eq!(&enc[..4], &(raw.len() as u32).to_le_bytes());
        assert_eq!(decode(&enc).unwrap(), raw);
        assert!(decode(&enc[..enc.len() - 5]).is_err());
        assert!(decode(&enc[..3]).is_err());
        let mut wrong = enc.clone();
        wrong[..4].copy_from_slice(&(raw.len() as u32 + 1).to_le_bytes());
        assert!(decode(&wrong).is_err());
    }

    #[test]
    fn zarrs_reads_a_v2_array_with_the_lz4_compressor() {
        use zarrs::array::{Array, ArrayMetadata, ArrayMetadataV2};
        let dir = tempfile::tempdir().unwrap();
        let meta: ArrayMetadataV2 = serde_json::from_value(serde_json::json!({
            "zarr_format": 2, "shape": [4, 6], "chunks": [4, 3], "dtype": "<u2",
            "compressor": {"id": "lz4", "acceleration": 1}, "fill_value": 7,
            "order": "C", "filters": null
        }))
        .unwrap();
        let vals: Vec<u16> = (0..12).collect();
        let bytes: Vec<u8> = vals.iter().flat_map(|v| v.to_le_bytes()).collect();
        std::fs::create_dir_all(dir.path().join("a")).unwrap();
        std::fs::write(dir.path().join("a/0.0"), encode(&bytes).unwrap()).unwrap();
        let store = Arc::new(zarrs::filesystem::FilesystemStore::new(dir.path()).unwrap());
        let a = Array::new_with_metadata(store, "/a", ArrayMetadata::V2(meta)).unwrap();
        assert_eq!(a.retrieve_chunk::<Vec<u16>>(&[0, 0]).unwrap(), vals);
        // a missing chunk is the fill value
        assert_eq!(a.retrieve_chunk::<Vec<u16>>(&[0, 1]).unwrap(), vec![7; 12]);
    }
}
