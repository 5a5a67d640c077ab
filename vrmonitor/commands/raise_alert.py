"""`vrmonitor raise-alert`: append one alert for the management server's next poll."""


def add_arguments(parser):
    parser.add_argument("--severity", choices=("INFO", "ALERT"), default="ALERT")
    parser.add_argument("name", help="what the alert is about, printed in brackets")
    parser.add_argument("message", help="the alert text")


def run(args, context) -> int:
    from vrmonitor.alerts.writer import AlertWriter
    from vrmonitor.config.settings import load_settings

    settings = load_settings(context.config_file).alerts
    writer = AlertWriter(context.paths, settings.max_bytes, settings.backups)
    writer.write(args.severity, args.name, args.message)
    return 0
