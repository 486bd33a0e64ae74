"""A client-mode Spark driver the tests steer: it runs under spark-submit
--deploy-mode client and reads one command a line from the control file named
by its first argument (a FIFO; spark-submit does not pass its stdin on to the
Python process). Answers go to stdout, one line each, prefixed "sparkbed:".

  start {"key": "value", ...}   a new SparkContext with these settings -> started <application id>
  stop                          SparkContext.stop(), a clean stop        -> stopped
  exit                          leave (a running SparkContext is stopped by Spark's shutdown hook)

End of file on the control file (the test went away) is exit.
"""

import json
import sys

from pyspark import SparkConf, SparkContext


def say(*words):
    print("sparkbed:", *words, flush=True)


def main():
    sc = None
    with open(sys.argv[1]) as control:
        say("ready")
        for line in control:
            cmd, _, arg = line.strip().partition(" ")
            try:
                if cmd == "start":
                    conf = SparkConf()
                    for key, value in json.loads(arg).items():
                        conf.set(key, value)
                    sc = SparkContext(conf=conf)
                    say("started", sc.applicationId)
                elif cmd == "stop":
                    sc.stop()
                    sc = None
                    say("stopped")
                elif cmd == "exit":
                    break
                else:
                    say("error", "unknown command " + repr(cmd))
            except Exception as e:  # the test reads the reason; the driver stays up
                say("error", repr(e).replace("\n", " "))


if __name__ == "__main__":
    main()
