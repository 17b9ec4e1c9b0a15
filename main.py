"""Start echoviewer from a source checkout: ``python main.py [FILE]`` (same as ``echoviewer``)."""

from echoviewer.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
