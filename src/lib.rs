//! shardgate library
