# JobCenter cluster resource extension DLL (guide 6.1.1 (2)), made by cjc.cluster.
# Run it on every node of the cluster. Only the property pages of the cluster administration
# tools need it; the resource and its parameters work without it.
$ErrorActionPreference = 'Stop'
Set-Location (Join-Path $env:SystemRoot 'Cluster')
& regsvr32.exe /s (Join-Path $env:SystemRoot 'Cluster\JobCenterClusterEx')
& cluster.exe /regext:JobCenterClusterEx
