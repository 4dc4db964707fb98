import time
from datetime import timedelta

import pytest

from shared import auth, masking
from shared.crypto import FieldCipher, new_key
from shared.errors import Unauthorized


def _keys() -> tuple[bytes, bytes]:
    return auth.generate_keypair()


def test_token_round_trip_carries_role_and_scope() -> None:
    private, public = _keys()
    who = auth.Principal(sub="u1", role=auth.Role.SOCIAL_WORKER, adcode="511523101")
    token = auth.issue_token(principal=who, private_pem=private, ttl=timedelta(minutes=5))
    assert auth.verify_token(token, public_pem=public) == who


def test_expired_forged_and_foreign_tokens_are_refused() -> None:
    private, public = _keys()
    other_private, _ = _keys()
    who = auth.Principal(sub="u1", role=auth.Role.ADMIN)
    expired = auth.issue_token(principal=who, private_pem=private, ttl=timedelta(seconds=-1))
    foreign = auth.issue_token(principal=who, private_pem=other_private, ttl=timedelta(hours=1))
    good = auth.issue_token(principal=who, private_pem=private, ttl=timedelta(hours=1))
    tampered = good[:-4] + ("AAAA" if not good.endswith("AAAA") else "BBBB")
    for token, words in [(expired, "expired"), (foreign, "not valid"), (tampered, "not valid")]:
        with pytest.raises(Unauthorized, match=words):
            auth.verify_token(token, public_pem=public)


def test_a_token_verified_before_is_still_refused_once_it_expires_or_under_another_key() -> None:
    private, public = _keys()
    _, other_public = _keys()
    who = auth.Principal(
        sub="u2", role=auth.Role.COORDINATOR, organization="江安县链接公益服务中心"
    )
    token = auth.issue_token(principal=who, private_pem=private, ttl=timedelta(seconds=3))
    assert auth.verify_token(token, public_pem=public) == who
    assert auth.verify_token(token, public_pem=public) == who, "the kept verification"
    with pytest.raises(Unauthorized, match="not valid"):
        auth.verify_token(token, public_pem=other_public)
    time.sleep(3.1)  # until the token's exp has passed (a clock, not a speed)
    with pytest.raises(Unauthorized, match="expired"):
        auth.verify_token(token, public_pem=public)
    good = auth.issue_token(principal=who, private_pem=private, ttl=timedelta(hours=1))
    assert auth.verify_token(good, public_pem=public) == who
    tampered = good[:-4] + ("AAAA" if not good.endswith("AAAA") else "BBBB")
    with pytest.raises(Unauthorized, match="not valid"):
        auth.verify_token(tampered, public_pem=public)


def test_passwords_hash_with_salt_and_check() -> None:
    first, second = auth.hash_password("正确的密码"), auth.hash_password("正确的密码")
    assert first != second
    assert auth.check_password("正确的密码", first)
    assert not auth.check_password("wrong", first)
    assert not auth.check_password("x", "garbage")


def test_field_cipher_round_trip_and_rotation() -> None:
    old, new, index = new_key(), new_key(), new_key()
    before = FieldCipher.from_settings(keys=f"k1:{old}", current="k1", index_key=index)
    sealed = before.encrypt("110105199001011234")
    assert "110105" not in sealed and sealed.startswith("v1:k1:")
    after = FieldCipher.from_settings(keys=f"k1:{old},k2:{new}", current="k2", index_key=index)
    assert after.decrypt(sealed) == "110105199001011234"
    assert after.encrypt("x").startswith("v1:k2:")
    assert after.blind_index("13812345678") == before.blind_index("13812345678")
    assert before.encrypt("same") != before.encrypt("same"), "nonces must differ"


def test_cipher_refuses_a_current_key_it_does_not_have() -> None:
    with pytest.raises(ValueError, match="current"):
        FieldCipher.from_settings(keys=f"k1:{new_key()}", current="k2", index_key=new_key())


def test_masks() -> None:
    assert masking.mask_id_number("11010519900101123X") == "110105********123X"
    assert masking.mask_phone("13812345678") == "138****5678"
    assert masking.mask_name("张三丰") == "张**"
