"""Signing: the official SDK's test vectors byte for byte (../shared/reference/hyperliquid-api.md
§6), the number rules (§5), and equality with the SDK itself (a test-only oracle) on random
actions of every type, vault and expiry set and unset, on both networks."""

import pytest
from eth_account import Account
from hypothesis import given, settings, strategies as st

from perpbot.hl import signing

KEY = "0x0123456789012345678901234567890123456789012345678901234567890123"
WALLET = Account.from_key(KEY)
DUMMY = {"type": "dummy", "num": signing.float_to_int_for_hashing(1000)}
VAULT = "0x1719884eb866cb12b2287399b15f7db5e7d775ea"


def order(asset=1, cloid=None, t=None):
    return signing.order_action([signing.order_wire(asset, True, 100, 100, False,
                                                    t or {"limit": {"tif": "Gtc"}}, cloid)])


def test_wallet_address():
    assert WALLET.address == "0x14791697260E4c9A71f18484C9f997B308e59325"


def test_phantom_agent_hash_and_msgpack():
    action = signing.order_action([signing.order_wire(4, True, 1670.1, 0.0147, False,
                                                      {"limit": {"tif": "Ioc"}})])
    import msgpack
    assert msgpack.packb(action).hex() == (
        "83a474797065a56f72646572a66f72646572739186a16104a162c3a170a6313637302e31a173a6302e30"
        "313437a172c2a17481a56c696d697481a3746966a3496f63a867726f7570696e67a26e61")
    assert signing.action_hash(action, None, 1677777606040, None).hex() == \
        "0fcbeda5ae3c4950a548021552a4fea2226858c4453571bf3f24ba017eac2908"


# (action, vault, expires_after, mainnet (r, s, v), testnet (r, s, v)) from §6
VECTORS = {
    "dummy": (DUMMY, None, None,
              ("0x53749d5b30552aeb2fca34b530185976545bb22d0b3ce6f62e31be961a59298",
               "0x755c40ba9bf05223521753995abb2f73ab3229be8ec921f350cb447e384d8ed8", 27),
              ("0x542af61ef1f429707e3c76c5293c80d01f74ef853e34b76efffcb57e574f9510",
               "0x17b8b32f086e8cdede991f1e2c529f5dd5297cbe8128500e00cbaf766204a613", 28)),
    "order": (order(), None, None,
              ("0xd65369825a9df5d80099e513cce430311d7d26ddf477f5b3a33d2806b100d78e",
               "0x2b54116ff64054968aa237c20ca9ff68000f977c93289157748a3162b6ea940e", 28),
              ("0x82b2ba28e76b3d761093aaded1b1cdad4960b3af30212b343fb2e6cdfa4e3d54",
               "0x6b53878fc99d26047f4d7e8c90eb98955a109f44209163f52d8dc4278cbbd9f5", 27)),
    "order with cloid": (order(cloid="0x00000000000000000000000000000001"), None, None,
                         ("0x41ae18e8239a56cacbc5dad94d45d0b747e5da11ad564077fcac71277a946e3",
                          "0x3c61f667e747404fe7eea8f90ab0e76cc12ce60270438b2058324681a00116da",
                          27),
                         ("0xeba0664bed2676fc4e5a743bf89e5c7501aa6d870bdb9446e122c9466c5cd16d",
                          "0x7f3e74825c9114bc59086f1eebea2928c190fdfbfde144827cb02b85bbe90988",
                          28)),
    "vault": (DUMMY, VAULT, None,
              ("0x3c548db75e479f8012acf3000ca3a6b05606bc2ec0c29c50c515066a326239",
               "0x4d402be7396ce74fbba3795769cda45aec00dc3125a984f2a9f23177b190da2c", 28),
              ("0xe281d2fb5c6e25ca01601f878e4d69c965bb598b88fac58e475dd1f5e56c362b",
               "0x7ddad27e9a238d045c035bc606349d075d5c5cd00a6cd1da23ab5c39d4ef0f60", 27)),
    "tpsl order": (order(t={"trigger": {"triggerPx": 103, "isMarket": True, "tpsl": "sl"}}),
                   None, None,
                   ("0x98343f2b5ae8e26bb2587daad3863bc70d8792b09af1841b6fdd530a2065a3f9",
                    "0x6b5bb6bb0633b710aa22b721dd9dee6d083646a5f8e581a20b545be6c1feb405", 27),
                   ("0x971c554d917c44e0e1b6cc45d8f9404f32172a9d3b3566262347d0302896a2e4",
                    "0x206257b104788f80450f8e786c329daa589aa0b32ba96948201ae556d5637eac", 28)),
    "create sub-account": ({"type": "createSubAccount", "name": "example"}, None, None,
                           ("0x51096fe3239421d16b671e192f574ae24ae14329099b6db28e479b86cdd6caa7",
                            "0xb71f7d293af92d3772572afb8b102d167a7cef7473388286bc01f52a5c5b423",
                            27),
                           ("0xa699e3ed5c2b89628c746d3298b5dc1cca604694c2c855da8bb8250ec8014a5b",
                            "0x53f1b8153a301c72ecc655b1c315d64e1dcea3ee58921fd7507e35818fcc1584",
                            28)),
    "schedule cancel": (signing.schedule_cancel_action(), None, None,
                        ("0x6cdfb286702f5917e76cd9b3b8bf678fcc49aec194c02a73e6d4f16891195df9",
                         "0x6557ac307fa05d25b8d61f21fb8a938e703b3d9bf575f6717ba21ec61261b2a0", 27),
                        ("0xc75bb195c3f6a4e06b7d395acc20bbb224f6d23ccff7c6a26d327304e6efaeed",
                         "0x342f8ede109a29f2c0723bd5efb9e9100e3bbb493f8fb5164ee3d385908233df",
                         28)),
    "schedule cancel at": (signing.schedule_cancel_action(123456789), None, None,
                           ("0x609cb20c737945d070716dcc696ba030e9976fcf5edad87afa7d877493109d55",
                            "0x16c685d63b5c7a04512d73f183b3d7a00da5406ff1f8aad33f8ae2163bab758b",
                            28),
                           ("0x4e4f2dbd4107c69783e251b7e1057d9f2b9d11cee213441ccfa2be63516dc5bc",
                            "0x706c656b23428c8ba356d68db207e11139ede1670481a9e01ae2dfcdb0e1a678",
                            27)),
    "expires after": (DUMMY, None, 1000,
                      ("0xc03cc6d997e2c4848c513247c4736a9e902d5238538cd5f293aae0ecfc78ccd9",
                       "0x6be9de1144d933ab60393b638ec399fd9de6e2b56c0fcc9e075f5a963e5a812c", 27),
                      None),
}


CASES = [(name, mainnet) for name in sorted(VECTORS) for mainnet in (True, False)
         if VECTORS[name][3 if mainnet else 4] is not None]     # "expires after": mainnet only


@pytest.mark.parametrize("name, mainnet", CASES)
def test_the_sdks_vectors(name, mainnet):
    action, vault, expires, main, test = VECTORS[name]
    want = main if mainnet else test
    sig = signing.sign_l1_action(WALLET, action, vault, 0, expires, mainnet)
    assert sig == {"r": want[0], "s": want[1], "v": want[2]}


def test_action_hashes_of_the_vectors():
    assert signing.action_hash(DUMMY, None, 0, None).hex() == \
        "f528daee6a0bd11407b483cfcd9a48c56884180b70ee86f124053e5fc1bf4d57"
    assert signing.action_hash(order(), None, 0, None).hex() == \
        "884f2c32bb6dbdd65f6033e32fb28c0cb6f5b345db0f6471fd3366d85c9252c1"
    assert signing.action_hash(DUMMY, VAULT, 0, None).hex() == \
        "de9e09a7a3da45cc694096d4bfdcd89bc1b892d05497c5ecc1f56c335945184c"
    assert signing.action_hash(DUMMY, None, 0, 1000).hex() == \
        "3c635b1d8a5f670cf104a978c6fb5b6693d64c6cdbb5e751e47b86609b2d23f5"


def test_msgpack_of_the_other_builders():
    import msgpack
    assert msgpack.packb(signing.cancel_action([(0, 123456789012)])).hex() == \
        "82a474797065a663616e63656ca763616e63656c739182a16100a16fcf0000001cbe991a14"
    assert msgpack.packb(signing.cancel_by_cloid_action(
        [(0, "0x00000000000000000000000000000001")])).hex() == (
        "82a474797065ad63616e63656c4279436c6f6964a763616e63656c739182a5617373657400a563"
        "6c6f6964d92230783030303030303030303030303030303030303030303030303030303030303031")
    assert msgpack.packb(signing.update_leverage_action(0, 5)).hex() == \
        "84a474797065ae7570646174654c65766572616765a5617373657400a7697343726f7373c3a86c657665" \
        "7261676505"


@pytest.mark.parametrize("x, wire", [
    (1670.1, "1670.1"), (0.0147, "0.0147"), (100, "100"), (100.0, "100"), (0.1 + 0.2, "0.3"),
    (1e-08, "0.00000001"), (123456.0, "123456"), (0.00001231, "0.00001231"),
    (87654321.12345678, "87654321.12345678"), (987654321.0, "987654321"),
    (0.00076, "0.00076"), (1e-13, "0"), (-0.0, "0"), (-1e-13, "0")])
def test_float_to_wire(x, wire):
    assert signing.float_to_wire(x) == wire


@pytest.mark.parametrize("x", [5e-09, 1e-09, 1.123456789, 123.456789012, 3.0000000001])
def test_float_to_wire_refuses_what_it_would_round(x):
    with pytest.raises(ValueError, match="float_to_wire causes rounding"):
        signing.float_to_wire(x)


def test_float_to_int():
    assert signing.float_to_int_for_hashing(123123123123) == 12312312312300000000
    assert signing.float_to_int_for_hashing(0.00001231) == 1231
    assert signing.float_to_int_for_hashing(1.033) == 103300000
    assert signing.float_to_usd_int(1.5) == 1500000
    with pytest.raises(ValueError):
        signing.float_to_int_for_hashing(0.000012312312)


# equality with the official SDK on random actions -----------------------------------------------

try:
    from hyperliquid.utils import signing as sdk
except ImportError:         # a user's clone without the test extra: the vectors above still run
    sdk = None
needs_sdk = pytest.mark.skipif(sdk is None, reason="hyperliquid-python-sdk (the test extra, the "
                                                   "oracle) is not installed")

prices = st.decimals(min_value="0.00000001", max_value="99999999", places=8,
                     allow_nan=False, allow_infinity=False).map(float)
cloids = st.none() | st.integers(0, 2**128 - 1).map(lambda n: f"{n:#034x}")
addresses = st.binary(min_size=20, max_size=20).map(lambda b: "0x" + b.hex())


@st.composite
def orders(draw):
    asset, buy, px, sz, ro = (draw(st.integers(0, 10**6)), draw(st.booleans()), draw(prices),
                              draw(prices), draw(st.booleans()))
    if draw(st.booleans()):
        t = {"limit": {"tif": draw(st.sampled_from(signing.TIFS))}}
    else:
        t = {"trigger": {"isMarket": draw(st.booleans()), "triggerPx": draw(prices),
                         "tpsl": draw(st.sampled_from(["tp", "sl"]))}}
    cloid = draw(cloids)
    ours = signing.order_wire(asset, buy, px, sz, ro, t, cloid)
    theirs = sdk.order_request_to_order_wire(
        {"coin": "X", "is_buy": buy, "sz": sz, "limit_px": px, "reduce_only": ro,
         "order_type": t, **({"cloid": sdk.Cloid.from_str(cloid)} if cloid else {})}, asset)
    return ours, theirs


@st.composite
def actions(draw):
    kind = draw(st.sampled_from(["order", "cancel", "cancelByCloid", "batchModify",
                                 "updateLeverage", "scheduleCancel", "noop"]))
    if kind == "order":
        pairs = draw(st.lists(orders(), min_size=1, max_size=3))
        grouping = draw(st.sampled_from(["na", "normalTpsl", "positionTpsl"]))
        return (signing.order_action([o for o, _ in pairs], grouping),
                sdk.order_wires_to_order_action([t for _, t in pairs], None, grouping))
    if kind == "cancel":
        cancels = draw(st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 2**63 - 1)),
                                min_size=1, max_size=3))
        return (signing.cancel_action(cancels),
                {"type": "cancel", "cancels": [{"a": a, "o": o} for a, o in cancels]})
    if kind == "cancelByCloid":
        cancels = draw(st.lists(st.tuples(st.integers(0, 10**6),
                                          cloids.filter(bool)), min_size=1, max_size=3))
        return (signing.cancel_by_cloid_action(cancels),
                {"type": "cancelByCloid",
                 "cancels": [{"asset": a, "cloid": c} for a, c in cancels]})
    if kind == "batchModify":
        pairs = draw(st.lists(st.tuples(st.integers(0, 2**63 - 1), orders()), min_size=1,
                              max_size=2))
        return (signing.batch_modify_action([(oid, o) for oid, (o, _) in pairs]),
                {"type": "batchModify", "modifies": [{"oid": oid, "order": t}
                                                     for oid, (_, t) in pairs]})
    if kind == "updateLeverage":
        asset, lev, cross = draw(st.integers(0, 10**6)), draw(st.integers(1, 50)), \
            draw(st.booleans())
        return (signing.update_leverage_action(asset, lev, cross),
                {"type": "updateLeverage", "asset": asset, "isCross": cross, "leverage": lev})
    if kind == "scheduleCancel":
        t = draw(st.none() | st.integers(0, 2**62))
        return (signing.schedule_cancel_action(t),
                {"type": "scheduleCancel", **({"time": t} if t is not None else {})})
    return signing.noop_action(), {"type": "noop"}


@needs_sdk
@settings(max_examples=500, deadline=None)
@given(pair=actions(), vault=st.none() | addresses, nonce=st.integers(0, 2**63 - 1),
       expires=st.none() | st.integers(0, 2**63 - 1), mainnet=st.booleans())
def test_hash_and_signature_equal_the_sdks(pair, vault, nonce, expires, mainnet):
    ours, theirs = pair
    assert ours == theirs and list(ours) == list(theirs)          # the same keys, same order
    assert signing.action_hash(ours, vault, nonce, expires) == \
        sdk.action_hash(theirs, vault, nonce, expires)
    assert signing.sign_l1_action(WALLET, ours, vault, nonce, expires, mainnet) == \
        sdk.sign_l1_action(WALLET, theirs, vault, nonce, expires, mainnet)


# user-signed actions --------------------------------------------------------------------------

@pytest.mark.parametrize("types, primary, want", [
    (signing.USD_SEND_TYPES, "HyperliquidTransaction:UsdSend",
     ("0x637b37dd731507cdd24f46532ca8ba6eec616952c56218baeff04144e4a77073",
      "0x11a6a24900e6e314136d2592e2f8d502cd89b7c15b198e1bee043c9589f9fad7", 27)),
    (signing.WITHDRAW_TYPES, "HyperliquidTransaction:Withdraw",
     ("0x8363524c799e90ce9bc41022f7c39b4e9bdba786e5f9c72b20e43e1462c37cf9",
      "0x58b1411a775938b83e29182e8ef74975f9054c8e97ebf5ec2dc8d51bfc893881", 28)),
])
def test_user_signed_vectors(types, primary, want):
    action = {"destination": "0x5e9ee1089755c3435139848e47e6635505d5a13a", "amount": "1",
              "time": 1687816341423}
    sig = signing.sign_user_signed_action(WALLET, action, types, primary, False)
    assert sig == {"r": want[0], "s": want[1], "v": want[2]}
    assert action["hyperliquidChain"] == "Testnet" and action["signatureChainId"] == "0x66eee"
    assert signing.recover_user_signer(action, types, primary, sig) == WALLET.address.lower()


@needs_sdk
@settings(max_examples=100, deadline=None)
@given(agent=addresses, name=st.text(max_size=16), nonce=st.integers(0, 2**63 - 1),
       mainnet=st.booleans())
def test_approve_agent_equals_the_sdks(agent, name, nonce, mainnet):
    ours = signing.approve_agent_action(agent, name, nonce)
    theirs = dict(ours)
    assert signing.sign_user_signed_action(WALLET, ours, signing.APPROVE_AGENT_TYPES,
                                           "HyperliquidTransaction:ApproveAgent", mainnet) == \
        sdk.sign_user_signed_action(WALLET, theirs, signing.APPROVE_AGENT_TYPES,
                                    "HyperliquidTransaction:ApproveAgent", mainnet)
