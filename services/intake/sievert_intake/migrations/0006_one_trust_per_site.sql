-- A site code belongs to one trust (ODS site codes are unique nationally). Once a trust admin
-- has registered it, no other trust may register it or report incidents for it.
CREATE UNIQUE INDEX trust_sites_one_trust_per_site ON trust_sites (site);
