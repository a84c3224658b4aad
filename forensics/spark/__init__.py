"""`--engine spark`: a store's Parquet files read by Apache Spark (local or Spark Connect) and the named
queries translated to Spark SQL. Imports the store, the reading layer and shared modules.
"""
