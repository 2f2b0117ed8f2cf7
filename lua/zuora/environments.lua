--- Named Zuora environments and their REST base URLs (from Zuora's API reference).
-- `zuora.new{environment = "us-cloud2-sandbox"}` picks one; `base_url` overrides.
return {
  ["us-cloud1-production"] = "https://rest.na.zuora.com",
  ["us-cloud1-sandbox"] = "https://rest.sandbox.na.zuora.com",
  ["us-cloud2-production"] = "https://rest.zuora.com",
  ["us-cloud2-sandbox"] = "https://rest.apisandbox.zuora.com",
  ["us-central-sandbox"] = "https://rest.test.zuora.com",
  ["us-developer"] = "https://rest.test.zuora.com",
  ["us-performance-test"] = "https://rest.pt1.zuora.com",
  ["eu-production"] = "https://rest.eu.zuora.com",
  ["eu-sandbox"] = "https://rest.sandbox.eu.zuora.com",
  ["eu-central-sandbox"] = "https://rest.test.eu.zuora.com",
  ["eu-developer"] = "https://rest.test.eu.zuora.com",
  ["apac-production"] = "https://rest.ap.zuora.com",
  ["apac-central-sandbox"] = "https://rest.test.ap.zuora.com",
  ["apac-developer"] = "https://rest.test.ap.zuora.com",
}
