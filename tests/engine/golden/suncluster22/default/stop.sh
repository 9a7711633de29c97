#!/bin/sh
#
# JobCenter stop script for Sun Cluster 2.2 (guide 5.2), made by cjc.cluster.
# PMF tag JobService, site sitename.domain.
#
#If JobCenter Is not running,skip and proceed.
#
JobSiteName=sitename.domain
pmfadm -q JobService
ServStatus=$?
if [ "$ServStatus" -eq 0 ]
then
#Service Running,try to stop.
pmfadm -s JobService
PmfStat=$?
if [ "$PmfStat" -ne 0 ]
then
echo "Some errors happened while executing pmfadm to stop JobService"
echo "Because of pmfadm error returned by $PmfStat."
exit 1
fi
/usr/lib/nqs/cluster/cjcpw -stop "$JobSiteName"
CjcStat=$?
if [ "$CjcStat" -ne 0 ]
then
echo "cjcpw -stop failed with status $CjcStat."
exit 1
fi
else
echo "JobCenter Service Already stopped."
fi
exit 0
