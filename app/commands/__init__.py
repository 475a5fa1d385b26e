"""One module per `taser` subcommand; each exposes `register(subparsers)`."""
