"""A referral as an HL7 FHIR R4 Task, so a partner system can read where it stands.

Lianjie's own state always travels in `businessStatus`; `status` is the nearest FHIR Task
status. States before the resource has been asked (draft, in review, returned, approved) are
`draft` to FHIR: the performer has not been requested to act yet.
"""

from typing import Any

from services.needs.referrals.models import Referral
from services.needs.referrals.states import ReferralState as S
from services.needs.referrals.transitions import aware

FHIR_TASK_STATUS: dict[str, str] = {
    S.DRAFT: "draft",
    S.PENDING_REVIEW: "draft",
    S.RETURNED: "draft",
    S.APPROVED: "draft",
    S.SENT: "requested",
    S.ACCEPTED: "accepted",
    S.DECLINED: "rejected",
    S.IN_PROGRESS: "in-progress",
    S.COMPLETED: "completed",
    S.FAILED: "failed",
    S.CANCELLED: "cancelled",
}
LIANJIE_STATE_SYSTEM = "https://lianjie.example.org/fhir/CodeSystem/referral-state"
LIANJIE_REASON_SYSTEM = "https://lianjie.example.org/fhir/CodeSystem/referral-reason"
LIANJIE_OUTCOME_SYSTEM = "https://lianjie.example.org/fhir/CodeSystem/referral-outcome"


def task(referral: Referral) -> dict[str, Any]:
    """The referral as a FHIR Task: ids, codes and times only, no personal data."""
    body: dict[str, Any] = {
        "resourceType": "Task",
        "id": referral.id,
        "meta": {"versionId": str(referral.version)},
        "status": FHIR_TASK_STATUS[referral.state],
        "businessStatus": {
            "coding": [{"system": LIANJIE_STATE_SYSTEM, "code": referral.state}],
            "text": referral.state,
        },
        "intent": "order",
        "code": {"text": "referral"},
        "focus": {"reference": f"ServiceRequest/{referral.need_id}", "display": "need"},
        "authoredOn": aware(referral.created_at).isoformat(),
        "lastModified": aware(referral.updated_at).isoformat(),
        "owner": {
            "reference": f"Organization/{referral.resource_id}",
            "display": referral.resource_name,
        },
    }
    if referral.created_by:
        body["requester"] = {"identifier": {"value": referral.created_by}}
    if referral.reason:
        body["statusReason"] = {
            "coding": [{"system": LIANJIE_REASON_SYSTEM, "code": referral.reason}],
            "text": referral.reason,
        }
    if referral.outcome_result:
        output = [
            {
                "type": {"text": "outcome"},
                "valueCodeableConcept": {
                    "coding": [{"system": LIANJIE_OUTCOME_SYSTEM, "code": referral.outcome_result}]
                },
            }
        ]
        if referral.satisfaction is not None:
            output.append({"type": {"text": "satisfaction"}, "valueInteger": referral.satisfaction})
        body["output"] = output
    return body
