"""The data side of the test FHIR platform: resources, versions, transactions, validation.

Faithful to FHIR R4 where the engine depends on it:

* every resource is validated with fhir.resources (R4B models); an invalid one is refused
  with an OperationOutcome naming the element (``Patient.birthDate``);
* a transaction is atomic (all entries or none) and processed DELETE, POST, PUT, GET in
  that order (FHIR R4 §3.1.0.11.2: reads see the writes); ``urn:uuid`` fullUrls and
  conditional references (``Patient?identifier=s|v``) are resolved; two entries that
  resolve to the same resource fail the transaction (400); a batch applies each entry on
  its own;
* conditional create (``ifNoneExist``) and conditional update (``PUT Type?identifier=``):
  no match creates, one match updates it, several matches fail with 412;
* versioned update: ``ifMatch`` (``W/"n"``) on an entry, or ``If-Match`` on a REST PUT,
  must name the current version, else 412 (also when the resource does not exist);
* searches: ``identifier=[system|]value``, ``identifier:of-type=type-system|code|value``
  and the references ``subject``, ``patient``,
  ``part-of`` (``Type/id``), combined with AND; any other parameter is a 400;
* versions: ``meta.versionId`` starts at 1 and increases only when the content changes
  (an identical update is a no-op, as HAPI FHIR does), so a redelivery leaves no trace;
* anything else (PATCH, ``ifNoneMatch``, ``ifModifiedSince``, history, operations) is
  refused with an OperationOutcome, so a client depending on it fails its test.

Thread-safe: one lock around every operation (the server runs in its own thread).
"""

from __future__ import annotations

import copy
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from engine.sandbox.fhir_search import matches, parse_query, searchset
from engine.sandbox.fhir_validation import EntryError, check_shell, outcome, validate

Resource = dict[str, Any]
Data = dict[tuple[str, str], Resource]
_ORDER = {"DELETE": 0, "POST": 1, "PUT": 2, "GET": 3}


def identifier_key(resource: Resource) -> str:
    for ident in resource.get("identifier") or []:
        if ident.get("value"):
            return f"{ident.get('system', '')}|{ident['value']}"
    return ""


def _content(resource: Resource) -> Resource:
    return {k: v for k, v in resource.items() if k not in ("id", "meta")}


@dataclass
class Repository:
    """Current versions, full history, and what each patient received in which order."""

    lock: threading.RLock = field(default_factory=threading.RLock)
    current: Data = field(default_factory=dict)
    history: dict[tuple[str, str], list[Resource]] = field(default_factory=dict)
    arrivals: dict[str, list[str]] = field(default_factory=dict)
    _ids: dict[str, int] = field(default_factory=dict)

    # --- queries ----------------------------------------------------------------------
    def search(self, kind: str, query: str, data: Data | None = None) -> list[Resource]:
        """Resources of ``kind`` matching every parameter of ``query`` (see fhir_search)."""
        params = parse_query(query)
        return [
            res
            for (k, _), res in (self.current if data is None else data).items()
            if k == kind and matches(res, params)
        ]

    def of_type(self, kind: str) -> list[Resource]:
        with self.lock:
            return [copy.deepcopy(r) for (k, _), r in self.current.items() if k == kind]

    # --- interactions -----------------------------------------------------------------
    def bundle(self, bundle: Any) -> tuple[int, Resource]:
        """POST [base] of a transaction or batch: (HTTP status, response Bundle or outcome)."""
        try:
            kind = check_shell(bundle)
        except EntryError as exc:
            return exc.status, exc.outcome
        entries: list[Resource] = bundle.get("entry") or []
        atomic = kind == "transaction"
        errors: dict[int, EntryError] = {}
        for i, entry in enumerate(entries):
            if entry.get("resource") is not None:
                try:
                    validate(entry["resource"], f"Bundle.entry[{i}].resource: ")
                except EntryError as exc:
                    if atomic:
                        return exc.status, exc.outcome
                    errors[i] = exc
        valid = [i for i in range(len(entries)) if i not in errors]
        try:
            applied = self.apply([entries[i] for i in valid], atomic=atomic)
        except EntryError as exc:
            return exc.status, exc.outcome
        results: list[Resource] = [{} for _ in entries]
        for i, result in zip(valid, applied, strict=True):
            results[i] = result
        for i, err in errors.items():
            results[i] = {"response": {"status": str(err.status), "outcome": err.outcome}}
        return 200, {"resourceType": "Bundle", "type": f"{kind}-response", "entry": results}

    def rest(
        self,
        method: str,
        url: str,
        resource: Any,
        if_none_exist: str | None = None,
        if_match: str | None = None,
    ) -> tuple[int, Resource, str]:
        """PUT/POST/DELETE on a type or instance: (status, body, Location or "")."""
        request: Resource = {"method": method, "url": url}
        if if_none_exist:
            request["ifNoneExist"] = if_none_exist
        if if_match:
            request["ifMatch"] = if_match
        entry: Resource = {"request": request}
        try:
            if method != "DELETE":
                validate(resource)
                entry["resource"] = resource
            (result,) = self.apply([entry], atomic=True)
        except EntryError as exc:
            return exc.status, exc.outcome, ""
        response = result["response"]
        location = response.get("location", "")
        with self.lock:
            body = self.current.get(_key(location.split("/_history/")[0])) if location else None
        status = int(response["status"][:3])
        return status, copy.deepcopy(body) if body else {}, location

    # --- writes -----------------------------------------------------------------------
    def _new_id(self, kind: str) -> str:
        self._ids[kind] = self._ids.get(kind, 0) + 1
        return str(self._ids[kind])

    def _target(self, data: Data, entry: Resource) -> tuple[str, str]:
        """(status, "Type/id") an entry writes to (a matched conditional create: "200 OK")."""
        req, res = entry["request"], entry.get("resource") or {}
        method, url = _method(entry), str(req["url"]).lstrip("/")
        path, _, query = url.partition("?")
        kind = path.split("/")[0]
        for unsupported in ("ifNoneMatch", "ifModifiedSince"):
            if req.get(unsupported):
                raise EntryError(400, "not-supported", f"{unsupported} is not supported here")
        if method == "GET":
            if "/" in path and not query and len(path.split("/")) == 2:
                return "200 OK", path
            if "/" not in path and query:
                return "200 OK", url
            raise EntryError(400, "not-supported", f"GET {url.split('?')[0]} is not supported")
        if res and res.get("resourceType") != kind:
            raise EntryError(400, "invalid", f"{url}: resource is a {res.get('resourceType')}")
        if method == "POST":
            if req.get("ifNoneExist"):
                matches = self.search(kind, req["ifNoneExist"], data)
                if len(matches) > 1:
                    raise EntryError(412, "duplicate", f"{kind}: ifNoneExist matches several")
                if matches:
                    return "200 OK", f"{kind}/{matches[0]['id']}"
            return "201 Created", f"{kind}/{self._new_id(kind)}"
        if method == "PUT" and query:
            matches = self.search(kind, query, data)
            if len(matches) > 1:
                text = f"{kind}: conditional update matches several"
                raise EntryError(412, "multiple-matches", text)
            rid = matches[0]["id"] if matches else self._new_id(kind)
            if res.get("id") not in (None, rid):
                raise EntryError(400, "invalid", f"{kind}: resource id does not match")
            _check_version(data, kind, rid, req.get("ifMatch"))
            return ("200 OK" if matches else "201 Created"), f"{kind}/{rid}"
        if method in ("PUT", "DELETE") and len(path.split("/")) == 2 and not query:
            rid = path.split("/")[1]
            if method == "PUT" and res.get("id") != rid:
                raise EntryError(400, "invalid", f"{kind}/{rid}: resource id must be {rid!r}")
            _check_version(data, kind, rid, req.get("ifMatch"))
            exists = (kind, rid) in data
            return ("200 OK" if exists or method == "DELETE" else "201 Created"), f"{kind}/{rid}"
        raise EntryError(400, "not-supported", f"{method} {kind} is not supported here")

    def _resolve(self, node: Any, names: dict[str, str], data: Data) -> Any:
        if isinstance(node, dict):
            out = {}
            for k, v in node.items():
                if k == "reference" and isinstance(v, str):
                    if v in names:
                        v = names[v]
                    elif "?" in v:
                        kind, _, query = v.partition("?")
                        matches = self.search(kind, query, data)
                        if len(matches) != 1:
                            text = f"conditional reference {kind}: {len(matches)} matches"
                            raise EntryError(412, "not-found", text)
                        v = f"{kind}/{matches[0]['id']}"
                out[k] = v if k == "reference" else self._resolve(v, names, data)
            return out
        if isinstance(node, list):
            return [self._resolve(v, names, data) for v in node]
        return node

    def _write(self, data: Data, ref: str, res: Resource) -> tuple[str, bool]:
        """Store ``res`` at ``ref``; (version, changed). Identical content is a no-op."""
        kind, rid = ref.split("/")
        previous = data.get((kind, rid))
        if previous is not None and _content(previous) == _content(res):
            return str(previous["meta"]["versionId"]), False
        version = str(int(previous["meta"]["versionId"]) + 1) if previous else "1"
        meta = {**(res.get("meta") or {}), "versionId": version}
        meta["lastUpdated"] = datetime.now(UTC).isoformat(timespec="milliseconds")
        data[(kind, rid)] = {**res, "id": rid, "meta": meta}
        return version, True

    def apply(self, entries: list[Resource], *, atomic: bool) -> list[Resource]:
        """Apply transaction or batch entries; return one response entry per entry.

        Raises:
            EntryError: (atomic only) the first failing entry; nothing was applied.
        """
        with self.lock:
            data = copy.deepcopy(self.current) if atomic else self.current
            results: list[Resource] = [{} for _ in entries]
            order = sorted(range(len(entries)), key=lambda i: _ORDER.get(_verb(entries[i]), 9))
            targets: dict[int, tuple[str, str]] = {}
            names: dict[str, str] = {}
            changed: list[str] = []
            for phase in ("target", "check", "write"):
                if phase == "check":
                    if atomic:
                        _no_overlap(entries, targets)
                    continue
                for i in order:
                    try:
                        if phase == "target":
                            targets[i] = self._target(data, entries[i])
                            if entries[i].get("fullUrl"):
                                names[entries[i]["fullUrl"]] = targets[i][1]
                        elif i in targets:
                            results[i] = self._apply_one(
                                data, entries[i], targets[i], names, changed
                            )
                    except EntryError as exc:
                        if atomic:
                            text = f"Bundle.entry[{i}]: {exc}"
                            raise EntryError(exc.status, exc.code, text, exc.expression) from exc
                        results[i] = {
                            "response": {"status": str(exc.status), "outcome": exc.outcome}
                        }
            if atomic:
                self.current = data
            for ref in changed:
                self.history.setdefault(_key(ref), []).append(
                    copy.deepcopy(self.current[_key(ref)])
                )
                self._arrived(ref)
            return results

    def _apply_one(
        self,
        data: Data,
        entry: Resource,
        target: tuple[str, str],
        names: dict[str, str],
        changed: list[str],
    ) -> Resource:
        status, ref = target
        method = _method(entry)
        if method == "GET":
            return {"resource": self._read(data, ref), "response": {"status": status}}
        if method == "DELETE":
            data.pop(_key(ref), None)
            return {"response": {"status": "204 No Content"}}
        if method == "POST" and status.startswith("200"):  # conditional create matched
            version = str(data[_key(ref)]["meta"]["versionId"])
        else:
            resource = self._resolve(entry.get("resource") or {}, names, data)
            version, was_changed = self._write(data, ref, resource)
            if was_changed:
                changed.append(ref)
        location = f"{ref}/_history/{version}"
        return {"response": {"status": status, "location": location, "etag": f'W/"{version}"'}}

    def _read(self, data: Data, url: str) -> Resource:
        """The answer to a GET entry: the resource, or a searchset Bundle."""
        path, _, query = url.partition("?")
        if not query:
            found = data.get(_key(path))
            if found is None:
                raise EntryError(404, "not-found", f"{path} is not known")
            return copy.deepcopy(found)
        return searchset(path, query, [copy.deepcopy(r) for r in self.search(path, query, data)])

    def _arrived(self, ref: str) -> None:
        """Log a change under its patient's identifier: ``Encounter:<identifier value>``."""
        res = self.current.get(_key(ref))
        if res is None:
            return
        patient = res if res["resourceType"] == "Patient" else None
        for field_name in ("subject", "patient"):
            target = (res.get(field_name) or {}).get("reference", "")
            if patient is None and target.startswith("Patient/"):
                patient = self.current.get(_key(target))
        if patient is not None:
            marker = identifier_key(res).rpartition("|")[2] or res["id"]
            log = self.arrivals.setdefault(identifier_key(patient), [])
            log.append(f"{res['resourceType']}:{marker}")


def _verb(entry: Resource) -> str:
    return str(entry["request"]["method"]).upper()


def _method(entry: Resource) -> str:
    method = _verb(entry)
    if method not in _ORDER:
        raise EntryError(405, "not-supported", f"{method} is not supported here")
    return method


def _check_version(data: Data, kind: str, rid: str, if_match: Any) -> None:
    """412 unless ``if_match`` (``W/"n"``, ``"n"`` or ``n``) is the current version."""
    if not if_match:
        return
    wanted = str(if_match).removeprefix("W/").strip('"')
    current = data.get((kind, rid))
    if current is None or str(current["meta"]["versionId"]) != wanted:
        have = "none" if current is None else current["meta"]["versionId"]
        text = f"{kind}/{rid}: If-Match {wanted} but the current version is {have}"
        raise EntryError(412, "conflict", text)


def _no_overlap(entries: list[Resource], targets: dict[int, tuple[str, str]]) -> None:
    """FHIR R4: a transaction whose writes resolve to the same resource fails (400)."""
    seen: dict[str, int] = {}
    for i, (_, ref) in sorted(targets.items()):
        if _verb(entries[i]) == "GET":
            continue
        if ref in seen:
            text = f"Bundle.entry[{seen[ref]}] and [{i}] both write {ref}"
            raise EntryError(400, "processing", text)
        seen[ref] = i


def _key(ref: str) -> tuple[str, str]:
    kind, _, rid = ref.partition("/")
    return kind, rid


__all__ = ["EntryError", "Repository", "identifier_key", "outcome"]
