rem ***************************************
rem *              stop.bat               *
rem *  JobCenter site testsite            *
rem ***************************************

rem ***************************************
rem Check the cause of the stop
rem ***************************************
IF "%CLP_EVENT%" == "START" GOTO NORMAL
IF "%CLP_EVENT%" == "FAILOVER" GOTO FAILOVER

rem CLUSTERPRO Server is not running
GOTO no_arm

rem ***************************************
rem Normal stop
rem ***************************************
:NORMAL

rem Disk check
IF "%CLP_DISK%" == "FAILURE" GOTO ERROR_DISK

rem *** JobCenter: stop the site ***
"D:\JobCenter\SV\bin\cluster\cjcpw" -stop testsite

rem Priority check
IF "%CLP_SERVER%" == "OTHER" GOTO ON_OTHER1
rem Work on the highest-priority server
GOTO EXIT

:ON_OTHER1
rem Work on another server
GOTO EXIT

rem ***************************************
rem Failover
rem ***************************************
:FAILOVER

rem Disk check
IF "%CLP_DISK%" == "FAILURE" GOTO ERROR_DISK

rem *** JobCenter: stop the site ***
"D:\JobCenter\SV\bin\cluster\cjcpw" -stop testsite

rem Priority check
IF "%CLP_SERVER%" == "OTHER" GOTO ON_OTHER2
rem Work on the highest-priority server (after failover)
GOTO EXIT

:ON_OTHER2
rem Work on another server (after failover)
GOTO EXIT

rem ***************************************
rem Errors
rem ***************************************

rem Disk error
:ERROR_DISK
ARMBCAST /MSG "Failed to connect the switched partition" /A
GOTO EXIT

rem CLUSTERPRO Server is not running
:no_arm
ARMBCAST /MSG "CLUSTERPRO Server is not running" /A

:EXIT
