"""Drives a Redfish BMC with sushy (OpenStack's Redfish client, the one Ironic uses) for the
Redfish integration tests. Reads one JSON request on stdin and prints one JSON answer:

  {"url", "username", "password", "auth": "basic"|"session", "verify": <CA path or false>,
   "system": <path or null>, "steps": [["list"], ["power"], ["reset", "ForceOff"],
   ["boot", target, enabled, mode|null], ["boot_state"]]}

Answers {"results": [...]} with one entry per step, or {"error": type, "message", "status"}
for the first step that failed. Run it with the system's /usr/bin/python3 (python3-sushy).
"""
import json
import sys

import sushy
from sushy import exceptions


def main():
    req = json.load(sys.stdin)
    if req["auth"] == "session":
        auth = sushy.auth.SessionAuth(req["username"], req["password"])
    else:
        auth = sushy.auth.BasicAuth(req["username"], req["password"])
    results = []
    try:
        root = sushy.Sushy(req["url"] + "/redfish/v1", verify=req["verify"], auth=auth)
        system = None
        for step in req["steps"]:
            name = step[0]
            if name == "list":
                results.append(sorted(root.get_system_collection().members_identities))
                continue
            if system is None:
                system = root.get_system(req["system"])
            system.refresh()
            if name == "power":
                results.append(str(system.power_state.value))
            elif name == "reset":
                system.reset_system(sushy.ResetType(step[1]))
                results.append("ok")
            elif name == "boot":
                system.set_system_boot_options(
                    target=sushy.BootSource(step[1]),
                    enabled=sushy.BootSourceOverrideEnabled(step[2]),
                    mode=sushy.BootSourceOverrideMode(step[3]) if step[3] else None)
                results.append("ok")
            elif name == "boot_state":
                results.append([system.boot.target.value, system.boot.enabled.value,
                                system.boot.mode.value])
            else:
                raise ValueError("unknown step " + name)
        if req["auth"] == "session":
            results.append({"session": auth.get_session_resource_id()})
            auth.close()
        print(json.dumps({"results": results}))
    except exceptions.SushyError as e:
        print(json.dumps({"results": results, "error": type(e).__name__, "message": str(e),
                          "status": getattr(e, "status_code", None)}))


main()
