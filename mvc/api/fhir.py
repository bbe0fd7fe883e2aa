"""A MedCom CareCommunication (FHIR R4 message Bundle) carrying a meeting's join link, built with fhir.resources."""
from __future__ import annotations

import uuid as uuidlib
from html import escape
from zoneinfo import ZoneInfo

from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.communication import Communication
from fhir.resources.R4B.messageheader import MessageHeader
from fhir.resources.R4B.organization import Organization
from fhir.resources.R4B.patient import Patient
from fhir.resources.R4B.provenance import Provenance
from flask_babel import force_locale
from flask_babel import gettext as _

from mvc.api.schemas import CareCommunicationIn, Invalid, Party
from mvc.models import Meeting, Organisation
from mvc.models.base import utcnow
from mvc.sms.service import public_url

SOR = "urn:oid:1.2.208.176.1.1"
GLN = "urn:oid:1.3.88"
CPR = "urn:oid:1.2.208.176.1.2"
TERMS = "http://medcomfhir.dk/ig/terminology/CodeSystem/"
CATEGORY = TERMS + "medcom-careCommunication-categoryCodes"
EVENTS = TERMS + "medcom-messaging-eventCodes"
ACTIVITY = TERMS + "medcom-messaging-activityCodes"
DESTINATION_USE = TERMS + "medcom-messaging-destinationUse"
EXT = "http://medcomfhir.dk/ig/core/StructureDefinition/"
USE_EXT = "http://medcomfhir.dk/ig/messaging/StructureDefinition/medcom-messaging-destinationUseExtension"
DEFINITION = "http://medcomfhir.dk/ig/carecommunication/medcom-careCommunication-message-definition|4.0.0"
SOR_ENDPOINT = "https://sor2.sum.dsdn.dk/#id="
LOCAL = ZoneInfo("Europe/Copenhagen")


def _narrative(*lines: str) -> dict:
    """Generated narrative: every resource carries readable text, as MedCom requires."""
    body = "".join(f"<p>{escape(line)}</p>" for line in lines)
    return {"status": "generated", "div": f'<div xmlns="http://www.w3.org/1999/xhtml">{body}</div>'}


def _id() -> str:
    return str(uuidlib.uuid4())


def _organisation(party, fallback_name: str) -> dict:
    name = party.name or fallback_name
    return {"resourceType": "Organization", "id": _id(), "name": name,
            "identifier": [{"system": SOR, "value": party.sor}, {"system": GLN, "value": party.gln}],
            "text": _narrative(name, f"SOR {party.sor}", f"GLN {party.gln}")}


def sender_party(org: Organisation, request: CareCommunicationIn) -> Party:
    """The sender: SOR and GLN as the request gives them (both), else the organisation's settings; 400 if neither."""
    given = request.sender
    sor, gln = (given.sor, given.gln) if given.sor or given.gln else (org.sor, org.gln)
    if not (sor and gln):
        raise Invalid(19, _("Give both sender.sor and sender.gln, or let an administrator enter the organisation's "
                            "SOR code and GLN number under Organisation."))
    return Party(sor=sor, gln=gln, name=given.name or org.name)


def message_text(org: Organisation, meeting: Meeting, extra: str) -> tuple[str, str]:
    """The plain Danish payload and the attachment title: organisation, time and link, no meeting title."""
    start = meeting.starts_at.astimezone(LOCAL)
    with force_locale("da"):
        text = _("You are invited to a video meeting with %(org)s on %(date)s at %(time)s. "
                 "Open the attached link a few minutes before to join.", org=org.name,
                 date=start.strftime("%d-%m-%Y"), time=start.strftime("%H:%M"))
        title = _("Join the video meeting")
    return (text + ("\n\n" + extra if extra else "")), title


def bundle(org: Organisation, meeting: Meeting, request: CareCommunicationIn, party: Party, link: str) -> dict:
    """The message Bundle: MessageHeader, sender and receiver, Patient, Communication and Provenance."""
    now = utcnow().replace(microsecond=0).isoformat()
    sender, receiver = _organisation(party, org.name), _organisation(request.receiver, "")
    text, title = message_text(org, meeting, request.text)
    cpr = request.cpr.replace("-", "")
    patient = {"resourceType": "Patient", "id": _id(), "identifier": [{"system": CPR, "value": cpr}],
               "text": _narrative(*([request.patientName] if request.patientName else []), f"CPR {cpr[:6]}-{cpr[6:]}")}
    if request.patientName:
        patient["name"] = [{"text": request.patientName}]
    segment = f"urn:uuid:{_id()}"

    def stamp(identifier: str) -> list[dict]:
        return [{"url": EXT + "medcom-core-datetime-extension", "valueDateTime": now},
                {"url": EXT + "medcom-core-identifier-extension",
                 "valueIdentifier": {"value": identifier, "assigner": {"reference": f"Organization/{sender['id']}"}}}]

    communication = {
        "resourceType": "Communication", "id": _id(), "status": "unknown",
        "identifier": [{"value": f"urn:uuid:{_id()}"}],
        "category": [{"coding": [{"system": CATEGORY, "code": "telemedicine"}]}],
        "subject": {"reference": f"Patient/{patient['id']}"},
        "payload": [{"contentString": text, "extension": stamp(segment)},
                    {"contentAttachment": {"url": link, "title": title, "creation": now},
                     "extension": stamp(f"urn:uuid:{_id()}")}],
        "text": _narrative("Status: unknown", "Kategori: telemedicine", text, f"{title}: {link}")}
    header = {
        "resourceType": "MessageHeader", "id": _id(), "definition": DEFINITION,
        "eventCoding": {"system": EVENTS, "code": "care-communication-message"},
        "destination": [{"endpoint": SOR_ENDPOINT + request.receiver.sor,
                         "receiver": {"reference": f"Organization/{receiver['id']}"},
                         "extension": [{"url": USE_EXT, "valueCoding": {"system": DESTINATION_USE, "code": "primary"}}]}],
        "sender": {"reference": f"Organization/{sender['id']}"},
        "source": {"endpoint": SOR_ENDPOINT + party.sor},
        "focus": [{"reference": f"Communication/{communication['id']}"}],
        "text": _narrative("care-communication-message", f"{sender['name']} → {receiver['name']}")}
    provenance = {
        "resourceType": "Provenance", "id": _id(), "target": [{"reference": f"MessageHeader/{header['id']}"}],
        "occurredDateTime": now, "recorded": now,
        "activity": {"coding": [{"system": ACTIVITY, "code": "new-message"}]},
        "agent": [{"who": {"reference": f"Organization/{sender['id']}"}}],
        "entity": [{"role": "source", "what": {"identifier": {"value": segment}}}],
        "text": _narrative(f"new-message {now}", sender["name"])}
    resources = [header, patient, communication, sender, receiver, provenance]
    message = Bundle.model_validate({
        "resourceType": "Bundle", "id": _id(), "type": "message", "timestamp": now,
        "entry": [{"fullUrl": public_url(f"/fhir/{r['resourceType']}/{r['id']}"), "resource": r} for r in resources]})
    for model, resource in zip((MessageHeader, Patient, Communication, Organization, Organization, Provenance),
                               resources):
        model.model_validate(resource)  # each resource is valid FHIR R4 on its own too
    return message.model_dump(mode="json", exclude_none=True)
