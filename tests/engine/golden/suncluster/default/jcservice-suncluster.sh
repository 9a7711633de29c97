#!/bin/sh
# Sun Cluster 3.2 resource group of JobCenter site testsite (guide 5.1), made by cjc.cluster.
# Run it once on one node of the cluster; it can be run again (each step is skipped when its
# object exists).
set -e

clresourcetype show SUNW.HAStoragePlus >/dev/null 2>&1 || clresourcetype register SUNW.HAStoragePlus
clresourcetype show SUNW.gds >/dev/null 2>&1 || clresourcetype register SUNW.gds
clresourcegroup show jcservice-rg >/dev/null 2>&1 || clresourcegroup create jcservice-rg
clresource show jcservice-lh >/dev/null 2>&1 || clreslogicalhostname create -g jcservice-rg -h testsite -N sc_ipmp0@1,sc_ipmp0@2 jcservice-lh
clresource show jcservice-hasp >/dev/null 2>&1 || clresource create -g jcservice-rg -t SUNW.HAStoragePlus -p FilesystemMountPoints=/mnt/jobdb jcservice-hasp
clresource show jcservice >/dev/null 2>&1 || clresource create -g jcservice-rg -t SUNW.gds -p 'Start_command=/usr/lib/nqs/cluster/cjcpw testsite /mnt/jobdb' -p 'Stop_command=/usr/lib/nqs/cluster/cjcpw -stop testsite' -p Port_list=607/tcp,611/tcp -p Resource_dependencies=jcservice-lh,jcservice-hasp -p Network_resources_used=jcservice-lh jcservice

clresourcegroup online -eM jcservice-rg
