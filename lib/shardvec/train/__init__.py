"""Sharded Word2Vec: the pure-Python core (gensim + numpy), distributed by shardvec.dask."""
