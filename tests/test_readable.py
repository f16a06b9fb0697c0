"""Output people read: the loop's human lines on a terminal (JSON in its log file), and a
repeated condition said when it starts and when it ends, not every tick."""

import io

import orjson

from perpbot.logs import DaemonLog
from perpbot.loop.events import Events


def test_a_terminal_gets_human_lines_and_the_file_json(tmp_path):
    out = io.StringIO()
    log = DaemonLog("supervise", tmp_path / "perp-bot.log", stream=out, human=True)
    log.info("OPEN long ETH 0.33 @ 3001.2 (maker, slip 0.4 bps)", cloid="0xab")
    log.warning("price feed stale", age_s=75.0)
    log.close()
    lines = out.getvalue().splitlines()
    assert lines[0][8:] == " OPEN long ETH 0.33 @ 3001.2 (maker, slip 0.4 bps)  (cloid=0xab)"
    assert lines[1][8:] == " WARNING price feed stale  (age_s=75.0)"
    recs = [orjson.loads(x) for x in (tmp_path / "perp-bot.log").read_bytes().splitlines()]
    assert [r["msg"] for r in recs] == ["OPEN long ETH 0.33 @ 3001.2 (maker, slip 0.4 bps)",
                                        "price feed stale"]
    piped = io.StringIO()
    log = DaemonLog("supervise", tmp_path / "p2.log", stream=piped, human=False)
    log.info("tick", close=1)
    assert orjson.loads(piped.getvalue())["msg"] == "tick"


class Rec:
    def __init__(self):
        self.lines = []

    def log(self, level, msg, **f):
        self.lines.append((level, msg))

    def info(self, msg, **f):
        self.log("info", msg, **f)

    def error(self, msg, **f):
        self.log("error", msg, **f)


def test_a_condition_is_said_when_it_starts_and_when_it_ends():
    rec = Rec()
    ev = Events(rec)
    line = orjson.dumps({"level": "info", "msg": "no regime snapshots",
                         "condition": "no_regime_snapshots"})
    for _ in range(3):
        ev.forward("emit-signals", [line])
        ev.tick_done()
    ev.tick_done()                          # a tick without it: over
    ev.forward("emit-signals", [orjson.dumps({"level": "info", "msg": "other"})])
    ev.forward("emit-signals", [orjson.dumps({"level": "info", "msg": "other"})])
    assert rec.lines == [("info", "no regime snapshots"), ("debug", "no regime snapshots"),
                         ("debug", "no regime snapshots"), ("info", "over: no regime snapshots"),
                         ("info", "other"), ("info", "other")]
