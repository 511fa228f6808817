"""Judgement of who the peer is (peer.identity), from the implementation items of its A-ASSOCIATE-AC.

Products built on a toolkit report the toolkit (Orthanc 1.10 says OFFIS_DCMTK_367), so the guess names the
toolkit first and the products known to embed it. The mapping is data: the knowledge base's products table
(`kb.identify_product`), so a PACS admin can add their vendor without touching Python.
"""

from __future__ import annotations

from typing import Any

from ...messages import LANGS, Fixed, Text, msg
from .. import kb
from ..context import CheckContext, CheckResult, passed, warned
from ..model import PeerInfo
from ..registry import check
from .assoc import association_facts


def identify(uid: str | None, version: str | None) -> dict[str, Any]:
    """The knowledge base's product guess, as plain values (product None when it knows nothing)."""
    return kb.identify_product(uid, version)


def _product_text(product: dict[str, Any], uid: str | None, version: str | None) -> Text:
    """The product's name (knowledge-base data) and its note, in each language checks/products.yaml has."""
    name = product["product"] or product["toolkit"] or ""
    if not name:
        return ""
    if not product["note"]:
        return name
    # The same (English) knowledge base picks the note's other languages: it holds every language's text.
    notes = {lang: kb.load_kb().identify_product(uid, version, lang)["note"] for lang in LANGS if lang != "en"}
    return msg("{name} ({note})", name=name, note=Fixed({**notes, "en": product["note"]}))


@check("peer.identity", depends=("assoc.ae-title",), title="Peer identity", timeout=60.0)
async def identity(ctx: CheckContext) -> CheckResult:
    first = await association_facts(ctx)
    uid, version = first.implementation_class_uid, first.implementation_version_name
    ctx.set_peer(PeerInfo(uid, version, first.peer_max_pdu))
    product = identify(uid, version)
    ev: dict[str, Any] = {"implementation_class_uid": uid, "implementation_version_name": version,
                          "product": product}
    if not uid:
        return warned(msg("the peer's A-ASSOCIATE-AC has no implementation class UID (PS3.7 D.3.3.2 requires "
                          "one): we cannot tell what software it is"), ("peer-identity-missing",), **ev)
    who = _product_text(product, uid, version)
    named = f"{uid}" + (f" / {version}" if version else "")  # the peer's own identifiers
    if who:
        return passed(msg("the peer identifies as {named}: {who}", named=named, who=who), **ev)
    return passed(msg("the peer identifies as {named} (not a product we know)", named=named), **ev)
