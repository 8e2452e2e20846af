#!/usr/bin/env python3
"""An Open311 GeoReport v2 round trip against a running gridd, with a third-party client.

Usage: roundtrip.py BASE_URL, e.g. http://127.0.0.1:8080/open311/v2, with the api_key (a gridd
machine key of role citizen_app) in GEOREPORT_API_KEY, the client's own variable.

The reads go through georeport (PyPI), in both of the spec's formats: the service list, a
service definition, one request and lists of requests. georeport 0.3.1 cannot create requests
or read tokens, so those two calls are made as the spec describes them with requests, the HTTP
library georeport itself uses: a form-encoded POST and a GET of tokens/{token}.json.

Exits 0 when every check passed; otherwise prints what failed and exits 1.
"""

import os
import sys
import time

import requests
from georeport import GeoReport

# A point in 新安街道 of the test city, whose squad is 一中队 (tests/src/lib.rs, XINAN).
LAT, LONG = 34.372, 118.350
PATIENCE_SECONDS = 20
REQUEST_FIELDS = {
    "service_request_id", "status", "status_notes", "service_name", "service_code", "description",
    "agency_responsible", "service_notice", "requested_datetime", "updated_datetime",
    "expected_datetime", "address", "address_id", "zipcode", "lat", "long", "media_url",
}

checks = 0


def check(condition, what):
    """Counts a check, or stops the round trip with what failed."""
    global checks
    if not condition:
        print(f"open311 round trip FAILED: {what}", file=sys.stderr)
        sys.exit(1)
    checks += 1


def as_list(items):
    """xmltodict reads a single repeated element as one mapping, several as a list."""
    if items is None:
        return []
    return items if isinstance(items, list) else [items]


def check_services(client, fmt):
    services = as_list(client.get_service_list())
    by_code = {s["service_code"]: s for s in services}
    check("E0102" in by_code and "C0102" in by_code, f"{fmt}: services lists E0102 and C0102: {sorted(by_code)}")
    garbage = by_code["E0102"]
    check(garbage["service_name"] == "暴露垃圾", f"{fmt}: E0102 is 暴露垃圾: {garbage}")
    for field in ("service_code", "service_name", "description", "metadata", "type", "keywords", "group"):
        check(field in garbage, f"{fmt}: a service has {field}: {garbage}")
    check(str(garbage["metadata"]).lower() == "false", f"{fmt}: E0102 has no filing conditions: {garbage}")
    check(str(by_code["C0102"]["metadata"]).lower() == "true", f"{fmt}: C0102 has filing conditions")
    check(garbage["type"] == "batch", f"{fmt}: services answer with a token: {garbage}")

    definition = client.get_service_definition("C0102")
    check(definition["service_code"] == "C0102", f"{fmt}: the definition names its service: {definition}")
    attributes = definition["attributes"]
    attribute = attributes[0] if fmt == "json" else attributes["attribute"]
    check(attribute["code"] == "condition", f"{fmt}: the attribute is the filing condition: {attribute}")
    check(attribute["datatype"] == "singlevaluelist", f"{fmt}: a single-value list: {attribute}")
    values = attribute["values"] if fmt == "json" else as_list(attribute["values"]["value"])
    check([v["key"] for v in values] == ["missing"], f"{fmt}: its one value is missing: {values}")


def post_request(base, api_key):
    form = {
        "api_key": api_key,
        "service_code": "E0102",
        "lat": str(LAT),
        "long": str(LONG),
        "address_string": "新安路 18 号",
        "description": "路边有一堆垃圾，已经两天了",
        "media_url": "https://photos.example.cn/open311/1.jpg",
        "device_id": "roundtrip-device-1",
        "phone": "13812345678",
        "first_name": "三",
        "last_name": "张",
    }
    response = requests.post(f"{base}/requests.json", data=form, timeout=PATIENCE_SECONDS)
    check(response.status_code == 200, f"POST requests: {response.status_code} {response.text}")
    answer = response.json()
    check(isinstance(answer, list) and len(answer) == 1, f"POST answers one request: {answer}")
    check("token" in answer[0] and "service_request_id" not in answer[0], f"POST answers with a token only: {answer}")
    check(answer[0]["service_notice"], f"POST answers with a notice: {answer}")

    again = requests.post(f"{base}/requests.json", data=form, timeout=PATIENCE_SECONDS)
    check(again.status_code == 200 and again.json()[0]["token"] == answer[0]["token"], f"a resent POST gets the same token: {again.text}")

    bad = requests.post(f"{base}/requests.json", data={**form, "lat": "91"}, timeout=PATIENCE_SECONDS)
    check(bad.status_code == 400, f"a bad POST is refused with 400: {bad.status_code} {bad.text}")
    check(bad.json() == [{"code": 400, "description": "lat: must be between -90 and 90"}], f"the error names the field: {bad.text}")

    unkeyed = requests.post(f"{base}/requests.json", data={**form, "api_key": "gk_nobody_nothing"}, timeout=PATIENCE_SECONDS)
    check(unkeyed.status_code == 403, f"a wrong api_key is refused with 403: {unkeyed.status_code} {unkeyed.text}")
    return answer[0]["token"]


def wait_for_request_id(base, token):
    deadline = time.monotonic() + PATIENCE_SECONDS
    while True:
        response = requests.get(f"{base}/tokens/{token}.json", timeout=PATIENCE_SECONDS)
        check(response.status_code == 200, f"GET tokens/{token}: {response.status_code} {response.text}")
        answer = response.json()[0]
        check(answer["token"] == token, f"the token answers for itself: {answer}")
        if answer.get("service_request_id"):
            return answer["service_request_id"]
        if time.monotonic() > deadline:
            check(False, f"token {token} was never placed in a case")
        time.sleep(0.1)


def check_request(request, request_id, fmt):
    check(set(request) == REQUEST_FIELDS, f"{fmt}: a request has exactly the spec's fields: {sorted(request)}")
    check(request["service_request_id"] == request_id, f"{fmt}: the request asked for: {request}")
    check(request["status"] == "open", f"{fmt}: a new case is open: {request}")
    check(request["status_notes"] == "已派遣至一中队，等待签收", f"{fmt}: dispatched to 一中队: {request['status_notes']}")
    check(request["agency_responsible"] == "一中队", f"{fmt}: 一中队 is responsible: {request}")
    check(request["service_code"] == "E0102" and request["service_name"] == "暴露垃圾", f"{fmt}: the service: {request}")
    check(request["description"] == "路边有一堆垃圾，已经两天了", f"{fmt}: the description: {request}")
    check(abs(float(request["lat"]) - LAT) < 1e-6 and abs(float(request["long"]) - LONG) < 1e-6, f"{fmt}: the point: {request}")
    check(request["media_url"] == "https://photos.example.cn/open311/1.jpg", f"{fmt}: the photo: {request}")
    check(request["address"].startswith("新安路 18 号"), f"{fmt}: the address, most specific first: {request}")
    for stamp in ("requested_datetime", "updated_datetime", "expected_datetime"):
        check(request[stamp] and request[stamp].endswith("+08:00"), f"{fmt}: {stamp} is a w3 time in the city's offset: {request}")
    text = repr(request)
    check("13812345678" not in text and "张" not in text, f"{fmt}: the caller's number and name are not published: {request}")


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    base = sys.argv[1].rstrip("/")
    api_key = os.environ.get("GEOREPORT_API_KEY", "")
    check(api_key, "GEOREPORT_API_KEY (a citizen_app machine key) is set")

    for fmt in ("json", "xml"):
        check_services(GeoReport(base, output_format=fmt), fmt)

    token = post_request(base, api_key)
    request_id = wait_for_request_id(base, token)

    for fmt in ("json", "xml"):
        client = GeoReport(base, output_format=fmt)
        check_request(client.get_service_request(request_id), request_id, fmt)
        listed = as_list(client.get_service_requests(service_request_id=request_id))
        check([r["service_request_id"] for r in listed] == [request_id], f"{fmt}: listed by id: {listed}")
        opened = as_list(client.get_service_requests(service_code="E0102", status="open"))
        check(request_id in [r["service_request_id"] for r in opened], f"{fmt}: among the open E0102 requests: {opened}")

    # Only in JSON: georeport reads an empty XML list (<service_requests/>) as an error.
    closed = GeoReport(base).get_service_requests(status="closed")
    check(request_id not in [r["service_request_id"] for r in closed], f"not among the closed requests: {closed}")

    print(f"open311 round trip: {checks} checks passed")


if __name__ == "__main__":
    main()
