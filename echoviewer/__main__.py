"""Run the echoviewer command line: ``python -m echoviewer``."""

from echoviewer.cli import main

raise SystemExit(main())
