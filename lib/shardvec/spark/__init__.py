"""The Spark edge: distributes shardvec's pure-Python core over a cluster."""
