"""Plan files (YAML) shipped with giaoviec; the An Giang plan is the built-in one."""
