"""The `broker` command's entry point."""

import sys


def main() -> None:
    if sys.argv[1:2] == ["serve"]:
        # gevent must patch the standard library before anything imports ssl (requests, docker).
        from gevent import monkey

        monkey.patch_all()
        from broker.serve import prepare_metrics_folder

        prepare_metrics_folder()
    from broker.cli import main as cli_main

    cli_main()


if __name__ == "__main__":
    main()
