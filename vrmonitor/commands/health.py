"""`vrmonitor health run`: run the health checks now, joining a run in progress."""



def add_arguments(parser):
    actions = parser.add_subparsers(dest="action", metavar="ACTION")
    actions.required = True
    run_parser = actions.add_parser("run", help="run checks and write the result files")
    run_parser.add_argument("kind", nargs="?", choices=("basic", "advanced"),
                            help="default: basic then advanced")


def run(args, context) -> int:
    from vrmonitor.config.settings import load_settings
    from vrmonitor.health.run import HealthEngine
    from vrmonitor.health.services import basic_services

    settings = load_settings(context.config_file)
    engine = HealthEngine(context.paths, settings.health, basic_services(context.paths, settings))
    failing = False
    for kind in (args.kind,) if args.kind else ("basic", "advanced"):
        outcome = engine.run(kind)
        print(outcome.message)
        if outcome.failing:
            print(f"  failing: {', '.join(outcome.failing)}")
            failing = True
    return 1 if failing else 0
