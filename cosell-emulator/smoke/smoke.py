"""Drives widely used Python clients, unchanged, against the standalone cosell emulator.

Run through run.sh, which starts the emulator and sets EMULATOR_PORT and REQUESTS_CA_BUNDLE
(the emulator's CA file). Prints one line per check and the pass counts per service; exits
non-zero if any check failed.
"""

import datetime
import os
import sys
import time
import traceback

import msal
import requests
from azure.core.credentials import AccessToken
from PowerPlatform.Dataverse.client import DataverseClient
from simple_salesforce import Salesforce

FIRST = int(os.environ.get("EMULATOR_PORT", "7801"))
HOST = "https://127.0.0.1"
ENTRA = f"{HOST}:{FIRST}"
REFERRALS = f"{HOST}:{FIRST + 1}/v1.0/engagements/referrals"
DATAVERSE = f"{HOST}:{FIRST + 3}"
SALESFORCE = f"{HOST}:{FIRST + 4}"

results = {}


def check(service, name):
    def wrap(function):
        try:
            function()
            outcome = "pass"
        except Exception:  # a failed check is reported, and the others still run
            outcome = "FAIL"
            traceback.print_exc(limit=3)
        results.setdefault(service, []).append(outcome == "pass")
        print(f"{outcome}  {service:<15} {name}")
        return function

    return wrap


def msal_app(tenant="contoso"):
    # MSAL validates hosts it does not know against Microsoft's instance discovery endpoint;
    # pointing it at the emulator's own keeps it offline.
    return msal.ConfidentialClientApplication(
        "smoke-app",
        client_credential="smoke-secret",
        authority=f"{ENTRA}/{tenant}",
        instance_discovery=f"{ENTRA}/common/discovery/instance",
    )


def token_for(scope, tenant="contoso"):
    answer = msal_app(tenant).acquire_token_for_client(scopes=[scope])
    assert "access_token" in answer, answer
    return answer["access_token"]


# --- Entra ID, with MSAL (discovery, instance discovery, client credentials) ---------------


@check("entra/msal", "client credentials for the referrals API")
def _():
    token_for("https://api.partner.microsoft.com/.default")


@check("entra/msal", "client credentials for the served Dataverse URL")
def _():
    token_for(f"{DATAVERSE}/.default")


@check("entra/msal", "a second tenant's authority")
def _():
    token_for("https://api.partnercenter.microsoft.com/.default", tenant="fabrikam.example")


@check("entra/msal", "token cache: the second call is served from the cache")
def _():
    app = msal_app()
    first = app.acquire_token_for_client(scopes=["https://api.partner.microsoft.com/.default"])
    second = app.acquire_token_for_client(scopes=["https://api.partner.microsoft.com/.default"])
    assert first["access_token"] == second["access_token"]
    assert second.get("token_source") == "cache", second.get("token_source")


# --- Partner Center referrals, with requests and an MSAL token -----------------------------

pc = requests.Session()


@check("partner-center", "list referrals (the sample data)")
def _():
    pc.headers["Authorization"] = "Bearer " + token_for("https://api.partner.microsoft.com/.default")
    answer = pc.get(REFERRALS, params={"$top": 2})
    answer.raise_for_status()
    body = answer.json()
    assert len(body["value"]) == 2 and body["@odata.count"] >= 3, body


created = {}


@check("partner-center", "create a referral (dealValue as the docs' string)")
def _():
    answer = pc.post(
        REFERRALS,
        json={
            "name": "Smoke referral",
            "type": "Independent",
            "customerProfile": {"name": "Smoke Ltd", "address": {"country": "GB"}},
            "consent": {"consentToContact": "true"},
            "details": {"dealValue": "10000", "currency": "USD"},
        },
    )
    answer.raise_for_status()
    created.update(answer.json())
    assert created["details"]["dealValue"] == 10000
    assert created["consent"]["consentToContact"] is True


@check("partner-center", "JSON Patch with If-Match, then a stale If-Match is 412")
def _():
    url = f"{REFERRALS}/{created['id']}"
    patch = [{"op": "replace", "path": "/details/notes", "value": "smoke"}]
    answer = pc.patch(url, json=patch, headers={"If-Match": created["eTag"]})
    assert answer.status_code == 204, answer.text
    stale = pc.patch(url, json=patch, headers={"If-Match": created["eTag"]})
    assert stale.status_code == 412, stale.text


@check("partner-center", "a wrong type is a 400 in the service's error shape")
def _():
    answer = pc.post(REFERRALS, json={"name": "x", "type": "Independent", "customerProfile": {},
                                      "consent": {}, "details": {"dealValue": "lots"}})
    assert answer.status_code == 400
    assert answer.json()["error"]["target"] == "details.dealValue"


# --- Dataverse, with Microsoft's PowerPlatform-Dataverse-Client ----------------------------


class MsalCredential:
    """An azure-core TokenCredential backed by MSAL against the emulated Entra ID."""

    def get_token(self, *scopes, **kwargs):
        answer = msal_app().acquire_token_for_client(scopes=list(scopes))
        return AccessToken(answer["access_token"], int(time.time()) + answer["expires_in"])


dv = DataverseClient(DATAVERSE, MsalCredential())
account_ids = []


@check("dataverse", "create one record")
def _():
    account_ids.append(dv.records.create("account", {"name": "Smoke account", "accountnumber": "SMK-1"}))


@check("dataverse", "get it back")
def _():
    record = dv.records.retrieve("account", account_ids[0], select=["name", "accountnumber"])
    assert record["name"] == "Smoke account", record


@check("dataverse", "update it")
def _():
    dv.records.update("account", account_ids[0], {"name": "Smoke account 2"})
    assert dv.records.retrieve("account", account_ids[0], select=["name"])["name"] == "Smoke account 2"


@check("dataverse", "create several (CreateMultiple)")
def _():
    ids = dv.records.create("account", [{"name": "Bulk A"}, {"name": "Bulk B"}])
    assert len(ids) == 2, ids
    account_ids.extend(ids)


@check("dataverse", "list with a filter")
def _():
    rows = dv.records.list("account", filter="startswith(name,'Bulk')", select=["name"])
    names = sorted(r["name"] for r in rows)
    assert names == ["Bulk A", "Bulk B"], names


@check("dataverse", "table metadata")
def _():
    info = dv.tables.get("opportunity")
    assert info is not None


@check("dataverse", "delete")
def _():
    dv.records.delete("account", account_ids[-1])


# --- Salesforce, with simple-salesforce ---------------------------------------------------

sf_state = {}


def salesforce():
    if "sf" not in sf_state:
        login = requests.post(
            f"{SALESFORCE}/services/oauth2/token",
            data={"grant_type": "client_credentials", "client_id": "smoke", "client_secret": "smoke"},
        )
        login.raise_for_status()
        token = login.json()
        sf_state["login"] = token
        sf_state["sf"] = Salesforce(instance_url=token["instance_url"], session_id=token["access_token"],
                                    version="62.0")
    return sf_state["sf"]


@check("salesforce", "create, get and update an Account")
def _():
    sf = salesforce()
    created = sf.Account.create({"Name": "Smoke SF"})
    sf_state["account"] = created["id"]
    sf.Account.update(created["id"], {"phone": "000"})
    assert sf.Account.get(created["id"])["Phone"] == "000"


@check("salesforce", "SOQL query, query_all and COUNT()")
def _():
    sf = salesforce()
    assert sf.query("SELECT Id, Name FROM Account WHERE Name = 'Smoke SF'")["totalSize"] == 1
    assert sf.query_all("SELECT Id FROM Account")["totalSize"] >= 2
    assert sf.query("SELECT COUNT() FROM Account")["totalSize"] >= 2


@check("salesforce", "upsert by external id")
def _():
    sf = salesforce()
    status = sf.Opportunity.upsert("Referral_Id__c/SMOKE-1", {"Name": "Smoke deal", "StageName": "Prospecting",
                                                               "CloseDate": "2027-01-31"})
    assert status in (200, 201, 204), status


@check("salesforce", "describe")
def _():
    describe = salesforce().Opportunity.describe()
    stage = next(f for f in describe["fields"] if f["name"] == "StageName")
    assert stage["restrictedPicklist"] is True


@check("salesforce", "getUpdated / getDeleted")
def _():
    sf = salesforce()
    end = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(minutes=1)
    start = end - datetime.timedelta(days=1)
    assert sf_state["account"] in sf.Account.updated(start, end)["ids"]
    sf.Account.delete(sf_state["account"])
    assert any(d["id"] == sf_state["account"] for d in sf.Account.deleted(start, end)["deletedRecords"])


@check("salesforce", "composite with a reference")
def _():
    sf = salesforce()
    base = f"/services/data/v{sf.sf_version}"
    answer = sf.restful("composite", method="POST", json={"compositeRequest": [
        {"method": "POST", "url": f"{base}/sobjects/Account", "referenceId": "a", "body": {"Name": "Composite"}},
        {"method": "GET", "url": f"{base}/sobjects/Account/@{{a.id}}", "referenceId": "b"},
    ]})
    assert answer["compositeResponse"][1]["body"]["Name"] == "Composite", answer


@check("salesforce", "identity URL and userinfo")
def _():
    sf = salesforce()
    login = sf_state["login"]
    identity = requests.get(login["id"], headers={"Authorization": f"Bearer {login['access_token']}"})
    identity.raise_for_status()
    assert identity.json()["user_id"]
    userinfo = requests.get(f"{SALESFORCE}/services/oauth2/userinfo", headers=sf.headers)
    userinfo.raise_for_status()
    assert userinfo.json()["sub"] == login["id"]


total = failed = 0
print()
for service, outcomes in results.items():
    passed = sum(outcomes)
    total += len(outcomes)
    failed += len(outcomes) - passed
    print(f"{service:<15} {passed}/{len(outcomes)} passed")
print(f"{total - failed} passed, {failed} failed")
sys.exit(1 if failed else 0)
