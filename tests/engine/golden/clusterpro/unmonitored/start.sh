#! /bin/sh

if [ "$CLP_EVENT" = "START" ]
then
 if [ "$CLP_DISK" = "SUCCESS" ]
 then
  echo "NORMAL CJCPW STARTUP"
  /usr/lib/nqs/nqsportkpr testsite
  /usr/lib/nqs/cluster/cjcpw -c testsite /mnt/jobdb
 fi
elif [ "$CLP_EVENT" = "FAILOVER" ]
then
 if [ "$CLP_DISK" = "SUCCESS" ]
 then
  echo "FAILOVER CJCPW STARTUP"
  /usr/lib/nqs/nqsportkpr testsite
  /usr/lib/nqs/cluster/cjcpw -c testsite /mnt/jobdb
 fi
else
 echo "NO_CLP"
fi
echo "EXIT"

exit 0
