# JobCenter cluster resource of site jcgpkg1 (guide 6.1), made by cjc.cluster.
# Run it on one node of the cluster as a cluster administrator, after the quorum is configured;
# it can be run again (each step is skipped when done).
$ErrorActionPreference = 'Stop'
Import-Module FailoverClusters

# 6.1.1 (1): the resource type (once per cluster)
if (-not (Get-ClusterResourceType -Name 'JobCenterCluster' -ErrorAction SilentlyContinue)) {
    Add-ClusterResourceType -Name 'JobCenterCluster' -Dll 'JobCenterCluster.dll' -DisplayName 'NEC JobCenter Cluster Resource Type'
}

# 6.1.3 (2), (3): the resource in the service (group) that holds the client access point and the disk
if (-not (Get-ClusterResource -Name 'cjc-jcgpkg1' -ErrorAction SilentlyContinue)) {
    Add-ClusterResource -Name 'cjc-jcgpkg1' -ResourceType 'JobCenterCluster' -Group 'jcgpkg1' | Out-Null
}

# 6.1.3 (5): the site name and the site database
Get-ClusterResource -Name 'cjc-jcgpkg1' | Set-ClusterParameter -Name 'SiteName' -Value 'jcgpkg1'
Get-ClusterResource -Name 'cjc-jcgpkg1' | Set-ClusterParameter -Name 'SiteDirectory' -Value 'Y:\Jobdb'

# 6.1.3 (4): the cluster disk AND the client access point (each Add- joins with AND)
$expression = (Get-ClusterResourceDependency -Resource 'cjc-jcgpkg1').DependencyExpression
if (-not ("$expression".Contains('[Cluster Disk 1]'))) {
    Add-ClusterResourceDependency -Resource 'cjc-jcgpkg1' -Provider 'Cluster Disk 1' | Out-Null
}
if (-not ("$expression".Contains('[jcgpkg1]'))) {
    Add-ClusterResourceDependency -Resource 'cjc-jcgpkg1' -Provider 'jcgpkg1' | Out-Null
}

Get-ClusterResourceDependency -Resource 'cjc-jcgpkg1'
