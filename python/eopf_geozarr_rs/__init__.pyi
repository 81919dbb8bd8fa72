import os
from typing import Any, Callable, Sequence

import numpy as np

class GeoZarrError(Exception): ...
class InputError(GeoZarrError): ...
class OutputError(GeoZarrError): ...
class CredentialsError(GeoZarrError): ...
class ValidationError(GeoZarrError): ...

def convert(
    input: str | os.PathLike[str],
    output: str | os.PathLike[str],
    *,
    groups: Sequence[str] | None = None,
    profile: str = "geozarr-0.4",
    overwrite: bool = False,
    local_workers: int | None = None,
    scheduler: str | None = None,
    progress: Callable[[int, int, str], Any] | None = None,
    spatial_chunk: int = 4096,
    min_dimension: int = 256,
    tile_width: int = 256,
    max_retries: int = 3,
    crs_groups: Sequence[str] | None = None,
    shard: bool = False,
    inner_chunk: int = 256,
    dtype: str = "stored",
    threads: int = 0,
    cluster_tasks: str = "chunk",
    dask_cluster: bool = False,
    priority: int = 1,
    dashboard: str = "127.0.0.1:8787",
) -> dict[str, Any]: ...
def info(path: str | os.PathLike[str]) -> dict[str, Any]: ...
def validate(
    path: str | os.PathLike[str], deep: bool = False, *, strict: bool = False
) -> dict[str, Any]: ...
def create_geozarr_dataset(
    dt_input: Any,
    groups: Sequence[str] | None,
    output_path: str | os.PathLike[str],
    spatial_chunk: int = 4096,
    min_dimension: int = 256,
    tile_width: int = 256,
    max_retries: int = 3,
    **kwargs: Any,
) -> Any: ...
def setup_datatree_metadata_geozarr_spec_compliant(
    dt: Any,
    groups: Sequence[str],
    gcp_group: str | None = None,
    *,
    profile: str = "geozarr-0.4",
    dtype: str = "stored",
) -> dict[str, Any]: ...
def downsample_2d_array(
    source_data: np.ndarray,
    target_height: int | None = None,
    target_width: int | None = None,
    nodata_value: float | int | None = None,
    *,
    fill_value: float | int | None = None,
) -> np.ndarray: ...
def calculate_aligned_chunk_size(dimension_size: int, target_chunk_size: int) -> int: ...
def is_grid_mapping_variable(ds: Any, var_name: str) -> bool: ...
def validate_existing_band_data(existing_group: Any, var_name: str, reference_ds: Any) -> bool: ...
