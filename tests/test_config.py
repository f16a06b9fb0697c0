import dataclasses

import orjson
import pytest

from conftest import ROOT, run, write_config
from perpbot import config
from perpbot.errors import ConfigError, ExitCode


def load_text(tmp_path, text, environ=None):
    p = tmp_path / "config.yaml"
    p.write_text(text)
    return config.load(p, environ=environ or {})


def test_example_documents_every_key_with_its_default():
    example = config.load(ROOT / "config.example.yaml", environ={})
    defaults = config.from_dict({"exchange": {"api_url": example.exchange.api_url}})
    for section in ("exchange", "data", "strategy", "indicators", "signals", "regime", "risk",
                    "costs", "backtest", "execution"):
        assert getattr(example, section) == getattr(defaults, section), section
    assert example.symbols == defaults.symbols
    text = (ROOT / "config.example.yaml").read_text()
    hints = {"exchange": config.ExchangeConfig, "data": config.DataConfig,
             "strategy": config.StrategyConfig, "indicators": config.IndicatorParams,
             "signals": config.SignalParams, "regime": config.RegimeConfig,
             "risk": config.RiskParams, "costs": config.CostParams,
             "backtest": config.BacktestParams, "execution": config.ExecutionConfig}
    for section, cls in hints.items():
        for f in dataclasses.fields(cls):
            assert f"  {f.name}:" in text, f"{section}.{f.name} is not in config.example.yaml"


def test_minimal_config_gets_defaults_and_typed_values(tmp_path):
    cfg = load_text(tmp_path, "exchange: {api_url: 'http://127.0.0.1:1', retries: 3}\n"
                              "data: {history_days: 7}\n")
    assert cfg.exchange.retries == 3
    assert cfg.data.history_days == 7.0 and isinstance(cfg.data.history_days, float)
    assert cfg.data.timeframes == ("1m", "5m", "15m", "1h")
    assert cfg.db_path == tmp_path / "data" / "perpbot.db"


@pytest.mark.parametrize("text, message", [
    ("exchange: {api_url: 'http://x', retry: 3}\n", 'unknown key "exchange.retry"'),
    ("exchange: {api_url: 'http://x'}\nsymbol: [ETH]\n", 'unknown key "symbol"'),
    ("exchange: {api_url: 'http://x', retries: three}\n",
     'key "exchange.retries": expected an integer, got "three"'),
    ("exchange: {api_url: 'http://x', retries: 2.5}\n",
     'key "exchange.retries": expected an integer, got 2.5'),
    ("exchange: {api_url: 'http://x', timeout_s: true}\n",
     'key "exchange.timeout_s": expected a number, got true'),
    ("exchange: {api_url: 'http://x'}\ndata: {funding: 'yes'}\n",
     'key "data.funding": expected true or false, got "yes"'),
    ("exchange: {api_url: 'http://x'}\nsymbols: ETH\n",
     'key "symbols": expected a list of strings, got "ETH"'),
    ("exchange: {api_url: 'http://x', clock: sundial}\n",
     'key "exchange.clock": expected one of wall, sim, got "sundial"'),
    ("exchange: {api_url: 'http://x'}\ndata: {timeframes: [1m, 7m]}\n",
     'key "data.timeframes[1]": expected one of'),
    ("exchange: {api_url: 'http://x'}\nstrategy: {timeframe: 4h}\n",
     'key "strategy.timeframe": "4h" is not among data.timeframes'),
    ("exchange: {api_url: 'ftp://x'}\n", 'key "exchange.api_url": expected an http(s) URL'),
    ("exchange: [1, 2]\n", 'key "exchange": expected a mapping, got a list'),
    ("exchange: {api_url: 'http://x'\n", "not valid YAML"),
])
def test_bad_config_names_the_key(tmp_path, text, message):
    with pytest.raises(ConfigError) as e:
        load_text(tmp_path, text)
    assert message in e.value.msg
    assert "\n" not in e.value.msg
    assert e.value.exit_code == ExitCode.USAGE


def test_bad_config_key_exits_2_with_one_line(tmp_path):
    path = write_config(tmp_path, exchange={"retrys": 3})
    r = run("fetch-candles", "BTC", "--tf", "1m", "--config", path)
    assert r.returncode == 2
    lines = r.stderr.decode().strip().splitlines()
    assert len(lines) == 1 and 'unknown key \\"exchange.retrys\\"' in lines[0]
    assert r.stdout == b""


def test_missing_config_file_exits_2(tmp_path):
    r = run("backfill", "--config", tmp_path / "nope.yaml")
    assert r.returncode == 2
    assert "no such config file" in r.stderr.decode()


def test_secrets_from_env_file_beside_config_and_environment_wins(tmp_path):
    (tmp_path / ".env").write_text("# keys\nexport HL_PRIVATE_KEY='0xabc'\n"
                                   "TELEGRAM_CHAT_ID=42\nUNRELATED=1\n")
    cfg = load_text(tmp_path, "exchange: {api_url: 'http://x'}\n",
                    environ={"TELEGRAM_CHAT_ID": "7"})
    assert cfg.secrets.get("HL_PRIVATE_KEY") == "0xabc"
    assert cfg.secrets.get("TELEGRAM_CHAT_ID") == "7"
    assert cfg.secrets.get("UNRELATED") is None
    assert "0xabc" not in repr(cfg) and "0xabc" not in str(cfg.secrets)


def test_secrets_are_not_config_keys(tmp_path):
    with pytest.raises(ConfigError, match='unknown key "secrets"'):
        load_text(tmp_path, "exchange: {api_url: 'http://x'}\nsecrets: {HL_PRIVATE_KEY: x}\n")


def test_regime_markets_are_checked_per_entry(tmp_path):
    cfg = load_text(tmp_path, "exchange: {api_url: 'http://x'}\nregime:\n  markets:\n"
                              "    - {source: kalshi, id: FED-CUT, category: rate_change}\n")
    assert cfg.regime.markets[0].weight == 1.0 and cfg.regime.markets[0].direction == "cut"
    with pytest.raises(ConfigError, match='key "regime.markets\\[0\\].source": expected one of '
                                          'polymarket, kalshi, got "manifold"'):
        load_text(tmp_path, "exchange: {api_url: 'http://x'}\nregime:\n  markets:\n"
                            "    - {source: manifold, id: X, category: war_risk}\n")
    with pytest.raises(ConfigError, match='missing required key "regime.markets\\[0\\].category"'):
        load_text(tmp_path, "exchange: {api_url: 'http://x'}\nregime:\n  markets:\n"
                            "    - {source: kalshi, id: X}\n")


@pytest.mark.parametrize("text, message", [
    ("risk:\n  leverage: -3\n", 'line 3: key "risk.leverage": expected 1 <= leverage <= 50, got -3'),
    ("risk:\n  margin_usage: 5\n",
     'line 3: key "risk.margin_usage": expected 0 < margin_usage <= 1, got 5'),
    ("signals:\n  exit_z: 2.5\n",
     'line 3: keys signals.exit_z, signals.entry_z, signals.stop_z: expected exit_z (2.5) < '
     'entry_z (2) < stop_z (3)'),
    ("signals:\n  stop_z: 1.5\n",
     'keys signals.exit_z, signals.entry_z, signals.stop_z: expected exit_z (0.3) < entry_z (2) '
     '< stop_z (1.5)'),
    ("signals:\n  rsi_oversold: 80\n",
     'line 3: keys signals.rsi_oversold, signals.rsi_overbought: expected rsi_oversold (80) < '
     'rsi_overbought (70)'),
    ("indicators:\n  z_window: 1\n", 'line 3: key "indicators.z_window": expected an integer >= 2'),
    ("costs:\n  slippage_min: 0.01\n", 'line 3: key "costs.slippage_min": 0.01 is above '
                                       'costs.slippage_max (0.0005)'),
    ("risk:\n  levrage: 2\n", 'line 3: unknown key "risk.levrage" (did you mean "leverage"?)'),
    ("data:\n  timeframes: [1m, 7m]\n", 'line 3: key "data.timeframes[1]": expected one of'),
])
def test_ranges_and_rules_between_keys_name_file_line_and_key(tmp_path, text, message):
    with pytest.raises(ConfigError) as e:
        load_text(tmp_path, "exchange: {api_url: 'http://x'}\n" + text)
    assert e.value.msg.startswith(f"{tmp_path / 'config.yaml'}: ")
    assert message in e.value.msg, e.value.msg


def test_leverage_above_the_assets_maximum_is_refused_at_start(tmp_path):
    cfg = load_text(tmp_path, "exchange: {api_url: 'http://x'}\nsymbols: [ETH]\nrisk:\n"
                              "  leverage: 30\n")
    config.check_leverage(cfg, {"ETH": 50})
    with pytest.raises(ConfigError) as e:
        config.check_leverage(cfg, {"ETH": 25, "BTC": 50})
    assert e.value.msg == (f"{tmp_path / 'config.yaml'}: line 4: key \"risk.leverage\": 30 is above "
                           f"ETH's maximum leverage on the exchange (25)")


def test_config_check_and_show_with_origins_and_masked_secrets(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text("exchange: {api_url: 'http://127.0.0.1:9'}\nrisk:\n  leverage: 5\n")
    (tmp_path / ".env").write_text("TELEGRAM_BOT_TOKEN=123:SECRET\n")
    assert run("config", "check", "--config", path).returncode == 0
    r = run("config", "show", "--config", path, env={"HL_PRIVATE_KEY": "0x" + "ab" * 32})
    assert r.returncode == 0
    rows = {x["key"]: x for x in map(orjson.loads, r.stdout.splitlines())}
    assert rows["risk.leverage"] == {"key": "risk.leverage", "value": 5.0,
                                     "origin": f"{path}: line 3"}
    assert rows["risk.margin_usage"] == {"key": "risk.margin_usage", "value": 0.5,
                                         "origin": "default"}
    assert rows["HL_PRIVATE_KEY"] == {"key": "HL_PRIVATE_KEY", "value": "****",
                                      "origin": "environment"}
    assert rows["TELEGRAM_BOT_TOKEN"]["origin"] == str(tmp_path / ".env")
    assert rows["DISCORD_WEBHOOK_URL"]["value"] is None
    assert b"SECRET" not in r.stdout and b"ab" * 32 not in r.stdout
    path.write_text("exchange: {api_url: 'http://127.0.0.1:9'}\nrisk:\n  leverage: 0\n")
    bad = run("config", "check", "--config", path)
    assert bad.returncode == 2 and len(bad.stderr.splitlines()) == 1
    assert b"line 3" in bad.stderr and b"risk.leverage" in bad.stderr


def test_walk_forward_says_how_much_history_it_needs_and_how_to_get_it(tmp_path):
    from conftest import market_store
    cfg = market_store(tmp_path, "EURUSD-1h", "EURUSD", "1h")
    r = run("walk-forward", "--config", cfg, "--symbol", "EURUSD", "--train-days", "400",
            "--test-days", "100")
    assert r.returncode == 2
    msg = orjson.loads(r.stderr.splitlines()[-1])["msg"]
    # 400 + 100 days and 456 candles of warm-up (IndicatorParams.converged), 19 days of 1h
    assert msg.startswith("walk-forward needs 519.0 days of 1h history") and \
        "run `backfill --tf 1h --start " in msg, msg


KEY = "0x0123456789012345678901234567890123456789012345678901234567890123"


@pytest.mark.parametrize("url, network, expected", [
    ("https://api.hyperliquid.xyz", None, "mainnet"),
    ("https://api.hyperliquid-testnet.xyz/", None, "testnet"),
    ("http://127.0.0.1:8080", "testnet", "testnet"),
])
def test_the_network_follows_hyperliquids_urls_or_is_named(tmp_path, url, network, expected):
    from perpbot.hl.account import network_of
    text = f"exchange: {{api_url: '{url}'" + (f", network: {network}" if network else "") + "}\n"
    assert network_of(load_text(tmp_path, text)) == expected


@pytest.mark.parametrize("text, env, message", [
    ("exchange: {api_url: 'http://127.0.0.1:9'}\n", {"HL_PRIVATE_KEY": KEY},
     'line 1: key "exchange.network": required for http://127.0.0.1:9'),
    ("exchange: {api_url: 'https://api.hyperliquid-testnet.xyz', network: mainnet}\n",
     {"HL_PRIVATE_KEY": KEY}, 'key "exchange.network": mainnet, but '
                              'https://api.hyperliquid-testnet.xyz is testnet'),
    ("exchange: {api_url: 'https://api.hyperliquid.xyz'}\n", {"HL_PRIVATE_KEY": KEY},
     'key "execution.allow_mainnet": live orders on mainnet need execution.allow_mainnet: true'),
    ("exchange: {api_url: 'https://api.hyperliquid-testnet.xyz'}\n", {},
     "HL_PRIVATE_KEY is not set"),
    ("exchange: {api_url: 'https://api.hyperliquid-testnet.xyz'}\n",
     {"HL_PRIVATE_KEY": "0xSECRETbutbroken"}, "HL_PRIVATE_KEY is not a private key"),
    ("exchange: {api_url: 'https://api.hyperliquid-testnet.xyz'}\n",
     {"HL_PRIVATE_KEY": KEY, "HL_ACCOUNT_ADDRESS": "0xSECRET"}, "HL_ACCOUNT_ADDRESS is not an"),
])
def test_live_is_refused_before_any_request_naming_what_is_missing(tmp_path, text, env, message):
    from perpbot.hl.account import live_account
    with pytest.raises(ConfigError) as e:
        live_account(load_text(tmp_path, text, environ=env))
    assert message in e.value.msg and "SECRET" not in e.value.msg
    assert KEY[2:] not in e.value.msg


def test_the_account_traded_is_the_agents_master_when_named(tmp_path):
    from perpbot.hl.account import live_account
    text = "exchange: {api_url: 'https://api.hyperliquid-testnet.xyz'}\n"
    own = live_account(load_text(tmp_path, text, environ={"HL_PRIVATE_KEY": KEY}))
    assert own.address == own.signer == "0x14791697260e4c9a71f18484c9f997b308e59325"
    assert not own.is_mainnet and KEY[2:] not in repr(own)
    master = "0x1719884EB866cb12b2287399b15f7db5e7d775ea"
    agent = live_account(load_text(tmp_path, text, environ={"HL_PRIVATE_KEY": KEY,
                                                            "HL_ACCOUNT_ADDRESS": master}))
    assert agent.address == master.lower() and agent.signer == own.signer


def test_an_offline_config_needs_no_exchange_section(tmp_path):
    cfg = load_text(tmp_path, "symbols: [ETH]\n")
    assert cfg.exchange.api_url == "https://api.hyperliquid.xyz"     # paper on mainnet's data
