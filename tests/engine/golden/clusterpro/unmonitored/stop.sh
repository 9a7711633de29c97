#! /bin/sh

if [ "$CLP_EVENT" = "START" ]
then
 if [ "$CLP_DISK" = "SUCCESS" ]
 then
  echo "NORMAL CJCPW STOP"
  /usr/lib/nqs/cluster/cjcpw -stop testsite
 fi
elif [ "$CLP_EVENT" = "FAILOVER" ]
then
 if [ "$CLP_DISK" = "SUCCESS" ]
 then
  echo "FAILOVER CJCPW STOP"
  /usr/lib/nqs/cluster/cjcpw -stop testsite
 fi
else
 echo "NO_CLP"
fi
echo "EXIT"

exit 0
