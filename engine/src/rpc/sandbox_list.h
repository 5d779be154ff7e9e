// rpc `list_sandboxes` (a matchlock extension): the sandboxes of the state store, as
// `matchlock list` shows them (rows reconciled with /proc), in wire form.
#pragma once

#include <rapidjson/document.h>

#include <vector>

#include "state/state_store.h"

namespace matchlock::rpc {

// {"id","state","image","created_at" (RFC 3339),"pid"}: `pid` is the owner process and present
// only while the sandbox is active (a stopped one's pid names a process that is gone), the
// same rule as `matchlock list`'s PID column.
rapidjson::Value sandbox_record_json(const state::SandboxRow& row,
                                     rapidjson::Document::AllocatorType& a);

// The result object {"sandboxes":[record...]}; `running_only` keeps the active ones
// (creating and running), as `matchlock list --running` does.
rapidjson::Document sandbox_list_result(const std::vector<state::SandboxRow>& rows,
                                        bool running_only);

}  // namespace matchlock::rpc
