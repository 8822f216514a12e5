"""Share links (``service/library/shares.py``, ``Studio.share`` & co.): a random id per link, made and
revoked by the job's owner only, resolved to that one job's images and nothing else, kept across restarts
in one bounded document."""

from __future__ import annotations

import dataclasses
import json
import math
from collections import Counter

import pytest

from akool_ui.adapters.local import LocalDocuments
from akool_ui.akool.models import ImageRequest
from akool_ui.bootstrap import build_studio
from akool_ui.service import ShareGone, ShareNotFound, ShareRefused
from akool_ui.service.library import shares as shares_module
from akool_ui.service.library.shares import Shares, is_share_id
from akool_ui.settings import Settings
from tests.app_helpers import FAST_DEMO
from tests.test_tracker import wait_final

SHARES_FILE = "shares.json"  # the shares document, as the local adapter keeps it


# --- the document alone ----------------------------------------------------------------------------


def test_a_share_id_is_random_url_safe_and_at_least_128_bits(tmp_path):
    shares = Shares(LocalDocuments(tmp_path))
    made = [shares.create("alice", f"job-{n}", 0, include_prompt=False) for n in range(50)]
    ids = [s.id for s in made]
    assert len(set(ids)) == 50 and all(is_share_id(i) for i in ids)
    # 24 URL-safe characters of 6 bits each: 144 bits; none contains the owner or the job
    assert all(len(i) * 6 >= 128 for i in ids)
    assert not any("alice" in i or "job" in i for i in ids)
    letters = Counter("".join(ids))
    assert len(letters) > 40  # spread over the alphabet, not a counter or a timestamp
    assert -sum(c / 1200 * math.log2(c / 1200) for c in letters.values()) > 5.3


def test_links_survive_a_restart_and_are_per_owner(tmp_path):
    first = Shares(LocalDocuments(tmp_path))
    a = first.create("alice", "job-1", 0, include_prompt=True)
    b = first.create("bob", "job-9", None, include_prompt=False)
    again = Shares(LocalDocuments(tmp_path))  # a new process on the same folder
    assert again.get(a.id) == a and again.get(b.id) == b
    assert [s.id for s in again.of_owner("alice")] == [a.id] and again.get(a.id).include_prompt
    assert oct((tmp_path / SHARES_FILE).stat().st_mode & 0o777) == "0o600"


def test_the_same_image_shared_twice_gives_the_same_link(tmp_path):
    shares = Shares(LocalDocuments(tmp_path))
    a = shares.create("alice", "job-1", 2, include_prompt=False)
    assert shares.create("alice", "job-1", 2, include_prompt=False) == a
    assert shares.create("alice", "job-1", 2, include_prompt=True).id != a.id  # another choice, another link
    assert shares.create("bob", "job-1", 2, include_prompt=False).id != a.id


def test_only_the_owner_revokes_and_a_revoked_id_means_nothing(tmp_path):
    shares = Shares(LocalDocuments(tmp_path))
    a = shares.create("alice", "job-1", 0, include_prompt=False)
    assert not shares.revoke("mallory", a.id) and shares.get(a.id) == a
    assert shares.revoke("alice", a.id) and shares.get(a.id) is None
    assert not shares.revoke("alice", a.id)  # already gone
    assert Shares(LocalDocuments(tmp_path)).get(a.id) is None


def test_each_owner_keeps_a_bounded_number_and_is_told_so(tmp_path, monkeypatch):
    monkeypatch.setattr(shares_module, "MAX_PER_OWNER", 3)
    shares = Shares(LocalDocuments(tmp_path))
    made = [shares.create("alice", f"job-{n}", 0, include_prompt=False) for n in range(3)]
    with pytest.raises(ShareRefused) as refused:
        shares.create("alice", "job-3", 0, include_prompt=False)
    assert "revoke one" in refused.value.user_message
    assert all(shares.get(s.id) == s for s in made)  # no old link was revoked for them
    shares.create("bob", "job-3", 0, include_prompt=False)  # another owner has their own allowance
    assert shares.create("alice", "job-3", 0, include_prompt=False, forget=frozenset({made[0].id}))
    assert shares.get(made[0].id) is None


def test_bad_ids_and_a_damaged_document_find_nothing(tmp_path):
    shares = Shares(LocalDocuments(tmp_path))
    good = shares.create("alice", "job-1", 0, include_prompt=False)
    for bad in ("", "x", "../../etc/passwd", good.id + "A", good.id[:-1] + "/", None, 42, good.id.upper()):
        if bad != good.id:
            assert shares.get(bad) is None
    data = json.loads((tmp_path / SHARES_FILE).read_text())
    data["not-an-id"] = {"job": "x", "owner": "y", "index": 0, "created": 1}
    data["A" * 24] = {"job": "x", "owner": "y", "index": "0", "created": 1}  # a wrong type is skipped
    (tmp_path / SHARES_FILE).write_text(json.dumps(data))
    again = Shares(LocalDocuments(tmp_path))
    assert again.get(good.id) == good and again.get("A" * 24) is None
    (tmp_path / SHARES_FILE).write_text("{not json")
    assert Shares(LocalDocuments(tmp_path)).get(good.id) is None


def test_two_processes_sharing_at_once_keep_both_links(tmp_path):
    first, second = Shares(LocalDocuments(tmp_path)), Shares(LocalDocuments(tmp_path))
    a = first.create("alice", "job-1", 0, include_prompt=False)
    b = second.create("alice", "job-2", 0, include_prompt=False)  # written over the first one's link
    assert first.get(b.id) == b and second.get(a.id) == a


# --- through the Studio ------------------------------------------------------------------------------


def _settings(cache) -> Settings:
    return Settings.from_env({"AKOOL_CACHE_DIR": str(cache), **FAST_DEMO})


@pytest.fixture()
def studio_folder(tmp_path):
    return tmp_path / "cache"


@pytest.fixture()
def built(studio_folder):
    built = build_studio(_settings(studio_folder))
    yield built
    built.close()


def _finished(studio, owner: str, prompt: str, **request):
    [record] = studio.submit(ImageRequest(prompt=prompt, **request), api_key=None, owner=owner)
    wait_final(studio.tracker, [record.id])
    return studio.get(record.id, owner)


def test_the_owner_shares_one_image_and_anyone_resolves_only_that(built):
    studio = built.studio
    record = _finished(studio, "alice", "A secret lighthouse", negative_prompt="fog")
    other = _finished(studio, "alice", "Another private job")
    stored = [e for e in record.images if e.is_stored]
    assert len(stored) >= 2  # a grid: several candidates, one is shared
    with pytest.raises(ShareRefused):
        studio.share("mallory", record.id, 0)  # not theirs
    share = studio.share("alice", record.id, stored[1].index)
    view = studio.resolve_share(share.id)
    assert [i.number for i in view.images] == [1]
    assert view.images[0].preview == studio.image_path(stored[1].preview)
    assert view.images[0].original == studio.image_path(stored[1].original)
    assert view.prompt is None and view.negative_prompt is None  # not included
    assert view.lineage == "Generated from a text prompt"
    text = repr(dataclasses.replace(view, images=()))  # what the page says (file paths stay on the server)
    for secret in (record.id, other.id, "alice", "A secret lighthouse", "fog"):
        assert secret not in text
    with_prompt = studio.resolve_share(studio.share("alice", record.id, None, include_prompt=True).id)
    assert with_prompt.prompt == "A secret lighthouse" and with_prompt.negative_prompt == "fog"
    assert len(with_prompt.images) == len(stored)  # the whole job
    assert [s.id for s in studio.shares_of("alice", record.id)][-1] == share.id
    assert studio.shares_of("mallory") == []


def test_a_u_result_says_its_lineage_without_naming_its_parent(built):
    studio = built.studio
    parent = _finished(studio, "alice", "A parent image")
    child = studio.press(parent.id, "U2", api_key=None, owner="alice")
    wait_final(studio.tracker, [child.id])
    view = studio.resolve_share(studio.share("alice", child.id, 0).id)
    assert view.lineage == "A 4K upscale (U2) of an earlier image"
    assert parent.id not in repr(view)


def test_revoked_unknown_and_deleted_each_say_one_sentence(built):
    studio = built.studio
    record = _finished(studio, "alice", "To be deleted")
    share = studio.share("alice", record.id, 0)
    for bad in ("nope", "A" * 24, "../" * 8):
        with pytest.raises(ShareNotFound):
            studio.resolve_share(bad)
    assert studio.delete(record.id, "alice")  # deleted, with undo still possible: gone meanwhile
    with pytest.raises(ShareGone) as gone:
        studio.resolve_share(share.id)
    assert gone.value.user_message.count(".") == 1
    assert studio.undo_delete(record.id, "alice")
    assert studio.resolve_share(share.id).images  # back with its job
    studio.delete_now(record.id, "alice")
    with pytest.raises(ShareGone):
        studio.resolve_share(share.id)
    with pytest.raises(ShareRefused):
        studio.share("alice", record.id, 0)
    second = _finished(studio, "alice", "Revoked later")
    link = studio.share("alice", second.id, 0)
    assert not studio.revoke_share("mallory", link.id)
    assert studio.revoke_share("alice", link.id)
    with pytest.raises(ShareNotFound):
        studio.resolve_share(link.id)


def test_a_share_survives_a_restart_of_the_app(studio_folder):
    first = build_studio(_settings(studio_folder))
    try:
        record = _finished(first.studio, "alice", "Kept across restarts")
        share = first.studio.share("alice", record.id, 0, include_prompt=True)
    finally:
        first.close()
    second = build_studio(_settings(studio_folder))
    try:
        view = second.studio.resolve_share(share.id)
        assert view.prompt == "Kept across restarts" and view.images[0].preview.is_file()
    finally:
        second.close()
