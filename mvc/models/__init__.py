"""Typed database models, one module per aggregate."""
from mvc.models.api import ApiClient, ApiMeeting, ApiToken
from mvc.models.audit import AuditEntry
from mvc.models.device import Device, DeviceCall
from mvc.models.mail import MailMessage
from mvc.models.org import Organisation, Theme
from mvc.models.queue import Queue, QueueStaff, QueueUnit
from mvc.models.room import Invitation, Meeting, MeetingSettings, Room
from mvc.models.sms import Reminder, SmsMessage
from mvc.models.stats import (MeetingRecord, ParticipantRecord, QualitySample, QueueVisit, SupportCheck,
                              SupportEvent)
from mvc.models.unit import Unit, UnitMember
from mvc.models.user import User
from mvc.models.webhook import WebhookDelivery, WebhookEndpoint

__all__ = ["Organisation", "Theme", "Room", "Meeting", "MeetingSettings", "Invitation", "User", "AuditEntry",
           "SmsMessage", "Reminder", "MailMessage",
           "Device", "DeviceCall", "ApiClient", "ApiToken", "ApiMeeting", "Queue", "QueueStaff", "QueueUnit", "Unit", "UnitMember",
           "MeetingRecord", "ParticipantRecord", "QualitySample", "SupportEvent", "SupportCheck", "QueueVisit",
           "WebhookEndpoint", "WebhookDelivery"]
