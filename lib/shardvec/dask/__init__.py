"""The Dask edge: runs shardvec's training core on a Dask cluster."""
