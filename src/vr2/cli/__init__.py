"""The `vr2` command line. Each subcommand module only parses arguments and calls the library."""
