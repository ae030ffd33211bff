# SPDX-License-Identifier: MIT
# SPDX-FileCopyrightText: 2026 The ShardScope authors
# ctest's tst_dcp_export: write the DCP fixtures afresh, then judge shardscope-cli against them.
#   cmake -DPYTHON=python3 -DSOURCE=tests/dcp -DFIXTURES=DIR -DCLI=shardscope-cli -P export_test.cmake
foreach(var PYTHON SOURCE FIXTURES CLI)
    if(NOT DEFINED ${var})
        message(FATAL_ERROR "export_test.cmake needs -D${var}=...")
    endif()
endforeach()
execute_process(COMMAND "${PYTHON}" "${SOURCE}/make_fixtures.py" "${FIXTURES}" RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
    message(FATAL_ERROR "make_fixtures.py failed (${rc})")
endif()
execute_process(COMMAND "${PYTHON}" "${SOURCE}/check_export.py" --cli "${CLI}" --fixtures "${FIXTURES}"
                RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
    message(FATAL_ERROR "check_export.py: DCP cases failed (${rc})")
endif()
execute_process(COMMAND "${PYTHON}" "${SOURCE}/check_faults.py" --cli "${CLI}" --fixtures "${FIXTURES}"
                RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
    message(FATAL_ERROR "check_faults.py: DCP fault checks failed (${rc})")
endif()
