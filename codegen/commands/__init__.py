"""One module per `mlc` sub-command. Each defines NAME, HELP, add_arguments(parser) and run(args) -> int."""

COMMANDS = ["inspect", "simulate", "generate", "boards", "build", "flash", "run", "monitor", "verify", "bench"]
