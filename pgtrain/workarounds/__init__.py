"""Work-arounds of library internals, each kept for its measured gain."""
