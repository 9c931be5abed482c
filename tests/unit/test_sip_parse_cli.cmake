# SPDX-License-Identifier: MIT
# Command-line test of sip-parse: verdicts and exit statuses on RFC 4475 messages, the JSON output,
# usage errors. Included by tests/install.cmake to define the test; run by ctest with `cmake -P`.

if(NOT CMAKE_SCRIPT_MODE_FILE)
  get_filename_component(cli_shared_dir ${PROJECT_SOURCE_DIR}/../shared ABSOLUTE)
  find_package(Python3 COMPONENTS Interpreter REQUIRED)
  add_test(NAME sip_parse_cli
    COMMAND ${CMAKE_COMMAND} -DSIP_PARSE=$<TARGET_FILE:sip-parse>
            -DCONF=${cli_shared_dir}/conformance -DWORK=${CMAKE_CURRENT_BINARY_DIR}/sip_parse_cli
            -DPYTHON=${Python3_EXECUTABLE} -P ${CMAKE_CURRENT_LIST_FILE})
  return()
endif()

# ---- script mode ---------------------------------------------------------------------------------

function(fail msg)
  message(SEND_ERROR "sip_parse_cli: ${msg}")
endfunction()

# run(<expected exit status> <output var> args...): runs sip-parse, checks the status.
function(run want outvar)
  execute_process(COMMAND ${SIP_PARSE} ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out
                  ERROR_VARIABLE err)
  if(NOT rc STREQUAL "${want}")
    fail("sip-parse ${ARGN}: exit ${rc}, expected ${want}\nstdout: ${out}\nstderr: ${err}")
  endif()
  set(${outvar} "${out}" PARENT_SCOPE)
endfunction()

function(expect_contains what text needle)
  string(FIND "${text}" "${needle}" pos)
  if(pos EQUAL -1)
    fail("${what}: output lacks '${needle}':\n${text}")
  endif()
endfunction()

# check_json(<file holding sip-parse --json output> <python statements>): `d` is the parsed object.
function(check_json file code)
  execute_process(COMMAND ${PYTHON} -c "import json, sys
raw = open(sys.argv[1], 'rb').read()
d = json.loads(raw)
${code}" ${file} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    fail("JSON check on ${file} failed:\n${err}${out}")
  endif()
endfunction()

file(REMOVE_RECURSE ${WORK})
file(MAKE_DIRECTORY ${WORK})
set(wsinv ${CONF}/rfc4475/wsinv.dat)
set(badvers ${CONF}/rfc4475/badvers.dat)

# RFC 4475 §3.1.1.1: valid despite its whitespace; §3.1.2.16: must be answered 505.
run(0 out ${wsinv})
expect_contains("wsinv" "${out}" "${wsinv}: ok\n")
run(1 out ${badvers})
expect_contains("badvers" "${out}" "${badvers}: error: ")
expect_contains("badvers" "${out}" "-> 505")
run(1 out ${wsinv} ${badvers})
expect_contains("two files" "${out}" "${wsinv}: ok\n${badvers}: error: ")

# Standard input, and the size limit (the file has 150 octets of body alone).
execute_process(COMMAND ${SIP_PARSE} - INPUT_FILE ${wsinv} RESULT_VARIABLE rc OUTPUT_VARIABLE out)
if(NOT rc EQUAL 0 OR NOT out STREQUAL "-: ok\n")
  fail("stdin: exit ${rc}, output '${out}'")
endif()
run(1 out --max-size 100 ${wsinv})
expect_contains("--max-size" "${out}" "${wsinv}: error: ")

# JSON: valid for json.tool, and the fields hold what the message says.
foreach(name wsinv badvers)
  execute_process(COMMAND ${SIP_PARSE} --json ${CONF}/rfc4475/${name}.dat
                  OUTPUT_FILE ${WORK}/${name}.json RESULT_VARIABLE rc)
  execute_process(COMMAND ${PYTHON} -m json.tool ${WORK}/${name}.json
                  RESULT_VARIABLE rc OUTPUT_QUIET ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    fail("json.tool rejects the --json output for ${name}: ${err}")
  endif()
endforeach()
check_json(${WORK}/wsinv.json [=[
assert d["ok"] is True and d["type"] == "request", d
assert d["method"] == "INVITE"
assert d["uri"]["scheme"] == "sip" and d["uri"]["user"] == "vivekg"
assert d["uri"]["host"] == "chair-dnrc.example.com" and d["uri"]["host_type"] == "name"
assert d["uri"]["params"] == {"unknownparam": None}, d["uri"]
vias = [h["via"] for h in d["headers"] if "via" in h]
assert [v["branch"] for v in vias] == ["390skdjuw", "z9hG4bK9ikj8", "z9hG4bK30239"], vias
assert [v["transport"] for v in vias] == ["UDP", "TCP", "UDP"], vias
cseq = [h["cseq"] for h in d["headers"] if "cseq" in h]
assert cseq == [{"seq": 9, "method": "INVITE"}], cseq
names = [h["name"] for h in d["headers"]]
assert "NewFangledHeader" in names and "UnknownHeaderWithUnusualValue" in names, names
assert len(d["body"]) == 150 and d["body"].startswith("v=0\r\n"), repr(d["body"])
]=])
check_json(${WORK}/badvers.json [=[
assert d["ok"] is False, d
e = d["error"]
assert e["name"] == "SIP_EVERSION" and e["status"] == 505 and e["line"] == 1, e
assert e["code"] == -1002 and e["reason"], e
]=])

# JSON string escaping: control octets and octets that are not UTF-8 become \u00XX, valid UTF-8
# passes through. Only the body may carry arbitrary octets, so they go there.
execute_process(COMMAND ${PYTHON} -c [=[
import sys
body = b'\x01\x00"\\\xc3\xa9\xff\xed\xa0\x80\x7f'
msg = (b"OPTIONS sip:bob@example.com SIP/2.0\r\n"
       b"Via: SIP/2.0/UDP h.example.com;branch=z9hG4bK776asdhds\r\n"
       b"Max-Forwards: 70\r\n"
       b"To: <sip:bob@example.com>\r\n"
       b"From: <sip:alice@example.com>;tag=88sja8x\r\n"
       b"Call-ID: escape.test@h.example.com\r\n"
       b"CSeq: 1 OPTIONS\r\n"
       b"Content-Type: application/octet-stream\r\n"
       b"Content-Length: %d\r\n\r\n" % len(body)) + body
open(sys.argv[1], "wb").write(msg)
]=] ${WORK}/octets.sip RESULT_VARIABLE rc)
execute_process(COMMAND ${SIP_PARSE} --json ${WORK}/octets.sip OUTPUT_FILE ${WORK}/octets.json
                RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  fail("octets.sip: exit ${rc}")
endif()
check_json(${WORK}/octets.json [=[
want = b'"body":"\\u0001\\u0000\\"\\\\\xc3\xa9\\u00ff\\u00ed\\u00a0\\u0080\\u007f"}'
assert want in raw, raw
]=])

# --pretty output is the same JSON.
execute_process(COMMAND ${SIP_PARSE} --json --pretty ${wsinv} OUTPUT_FILE ${WORK}/pretty.json)
check_json(${WORK}/pretty.json [=[
assert b"\n  \"file\": " in raw, raw[:80]
assert d == json.load(open(sys.argv[1].replace("pretty", "wsinv")))
]=])

# Options may follow the files; "--" ends them.
run(0 out ${wsinv} --json)
expect_contains("option after file" "${out}"
  "\"ok\":true,\"type\":\"request\",\"method\":\"INVITE\"")
run(2 out -- --json)

# Usage: --help succeeds; no file, an unknown option, a bad size, an unreadable file give 2.
run(0 out --help)
expect_contains("--help" "${out}" "usage: sip-parse")
run(2 out)
run(2 out --bogus ${wsinv})
run(2 out --max-size lots ${wsinv})
run(2 out ${WORK}/no-such-file.sip)
run(2 out ${WORK}/no-such-file.sip ${wsinv})
expect_contains("missing file" "${out}" "${wsinv}: ok\n")
