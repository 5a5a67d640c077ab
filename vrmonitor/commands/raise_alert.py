"""`vrmonitor raise-alert`: append one alert for the management server's next poll."""

from vrmonitor.commands import not_implemented

HELP = "append one alert to routerServiceMonitor.log through the daemon's writer"


def add_arguments(parser):
    parser.add_argument("--severity", choices=("INFO", "ALERT"), default="ALERT")
    parser.add_argument("name", help="what the alert is about, printed in brackets")
    parser.add_argument("message", help="the alert text")


def run(args, context) -> int:
    return not_implemented("raise-alert")
