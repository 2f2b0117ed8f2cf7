--- The Zuora Revenue API operations, as data for tools/gen-revenue-catalog.lua.
--
-- Methods, paths, parameter names and operation ids are facts from Zuora's Revenue API reference
-- (version 2025-08-06, https://developer.zuora.com/other-api/revenue/); titles are ours. `confirmed`
-- says where a fact was checked against that reference's operation pages; the others come from an
-- older edition of the same reference (2021) and are kept because tenants still serve them.
-- Fields of an operation:
--   name, method, path, title      the catalogue entry (`client.<group>.<name>`)
--   id                             the reference's operation id (its page is <tag>/<id lower>.md)
--   query                          known query parameters (the call's params for GET/DELETE)
--   headers                        header parameters the call needs besides credentials
--   content                        a request body that is not JSON
--   no_token = true                the call authenticates itself (no token is sent)
--   confirmed = false              not found in the 2025-08-06 reference (see above)
return {
  version = "2025-08-06",
  doc_base = "https://developer.zuora.com/other-api/revenue/",
  groups = {
    { name = "authentication", title = "Authentication", tag = "authentication", ops = {
      { name = "authenticate", method = "POST", path = "/api/integration/v1/authenticate", id = "POST_Authenticate",
        title = "Trade basic credentials for a token (the client does this itself)",
        headers = { "role", "clientname" }, no_token = true },
    } },
    { name = "inbound", title = "Inbound", tag = "inbound", ops = {
      { name = "create_upload", method = "POST", path = "/api/integration/v1/csv/upload", id = "POST_Upload",
        title = "Upload CSV text of up to 20,000 lines", headers = { "templatename", "filename" },
        content = "text/plain" },
      { name = "retrieve_upload_status", method = "GET", path = "/api/integration/v1/csv/upload/status",
        id = "GET_UploadStatus", title = "Get the status of a CSV text upload", query = { "id" } },
    } },
    { name = "file_upload", title = "File Upload", tag = "file-upload", ops = {
      { name = "upload", method = "POST", path = "/api/integration/v1/upload/file", id = "POST_UploadFile",
        title = "Upload a CSV file as multipart form data (up to about 60,000 lines)", headers = { "templatename" },
        content = "multipart/form-data" },
      { name = "retrieve_status", method = "GET", path = "/api/integration/v1/fileupload/status/{file_request_id}",
        id = "GET_FileUploadStatus", title = "Get the status of a file upload" },
      { name = "retrieve_field_mapping", method = "GET", path = "/api/integration/v1/upload/mapping",
        id = "GET_FileUploadMapping", title = "Get the field mapping of an upload template", query = { "templatename" },
        confirmed = false },
    } },
    { name = "stage_error", title = "Stage Error", tag = "stage-error", ops = {
      { name = "list", method = "GET", path = "/api/integration/v1/stage/error/{errortype}", id = "GET_StaggingError",
        title = "List the staging errors of transactions or events" },
    } },
    { name = "transfer_accounting", title = "Transfer Accounting", tag = "transfer-accounting", ops = {
      { name = "list_batches", method = "GET", path = "/api/integration/v1/journal/list", id = "GET_TransferBatchList",
        title = "List the GL transfer batches ready to transfer" },
      { name = "retrieve_batch", method = "GET", path = "/api/integration/v1/journal/batch/{batchid}/{pagenum}",
        id = "GET_TransferBatch", title = "Get one page of a GL transfer batch (up to 10,000 lines)",
        query = { "pagesize" } },
      { name = "update_batch_status", method = "PUT", path = "/api/integration/v1/journal/batch/status/{batch_id}",
        id = "PUT_TransferBatchStatus", title = "Mark a GL transfer batch as transferred" },
    } },
    { name = "transfer_accounting_files", title = "Transfer Accounting Files", tag = "transfer-accounting-files",
      ops = {
      { name = "download_batch_file", method = "GET",
        path = "/api/integration/v1/download/transferbatchfile/{batch_id}",
        id = "GET_TransferBatchFile", title = "Download the file of a GL transfer batch" },
    } },
    { name = "reports", title = "Reports", tag = "reports", ops = {
      { name = "list", method = "GET", path = "/api/integration/v1/reports/list", id = "GET_ReportList",
        title = "List the reports created on a date", query = { "createddate" } },
      { name = "download", method = "GET", path = "/api/integration/v1/reports/download/{filename}",
        id = "GET_DownloadReports", title = "Download a report file (at most 1 GB, last 48 hours)" },
      { name = "retrieve_signed_url", method = "GET", path = "/api/integration/v2/reports/signedurl/{report_id}",
        id = "GET_ReportsURL", title = "Get a signed URL (valid 30 minutes) for a report's file" },
    } },
    { name = "revenue_jobs", title = "Revenue Jobs", tag = "revenue-jobs", ops = {
      { name = "list_programs", method = "GET", path = "/api/integration/v1/programs", id = "GET_ProgramDetails",
        title = "List the programs the API can start, with their parameters" },
      { name = "list_orgs", method = "GET", path = "/api/integration/v1/revenue-orgs", id = "GET_RevenueOrgDetails",
        title = "List the organizations set up in Zuora Revenue" },
      { name = "submit_program", method = "POST", path = "/api/integration/v1/{orgId}/programs/{programId}/submit",
        id = "POST_SubmitRevenueJob", title = "Start a program for an organization" },
      { name = "retrieve_job", method = "GET", path = "/api/integration/v1/{orgId}/jobs/{jobId}",
        id = "GET_RevenueJobStatus", title = "Get the status of a submitted job" },
    } },
    { name = "data_collection", title = "Data Collection", tag = "data-collection", ops = {
      { name = "submit_job", method = "POST", path = "/api/integration/v1/job/collection/template",
        id = "POST_Collection", title = "Start a data collection job for an RC template" },
      { name = "retrieve_job", method = "GET", path = "/api/integration/v1/job/collection/template/{job_id}",
        id = "GET_CollectionDetails", title = "Get the status of a data collection job" },
    } },
    { name = "bi_views_v1", title = "BI Views v1", tag = "bi-views-v1", ops = {
      { name = "retrieve", method = "GET", path = "/api/integration/v1/biviews/{view_name}", id = "GET_BIViews",
        title = "Download a page of a BI view as CSV",
        query = { "clientId", "fromDate", "toDate", "pagenum", "pagesize", "count" } },
      { name = "retrieve_fields", method = "POST", path = "/api/integration/v1/biviews/{view_name}",
        id = "POST_BIViews", title = "Download selected fields of a BI view as CSV",
        query = { "clientId", "fromDate", "toDate", "pagenum", "count" }, confirmed = false },
    } },
    { name = "bi_views_v2", title = "BI Views v2", tag = "bi-views-v2", ops = {
      { name = "list_task_status", method = "GET", path = "/api/integration/v2/biviews-status",
        id = "GET_AllTaskStatus", title = "List the status of every BI view task" },
      { name = "retrieve_task", method = "GET", path = "/api/integration/v2/biviews-status/{task_id}",
        id = "GET_TaskDetails", title = "Get the tasks of a continuation token" },
      { name = "cancel_task", method = "DELETE", path = "/api/integration/v2/biviews-status/{task_id}",
        id = "DELETE_Task", title = "Cancel the tasks of a continuation token" },
      { name = "count_rows", method = "GET", path = "/api/integration/v2/biviews/count/{tmpl_name}",
        id = "GET_RowCount", title = "Count the rows of a BI view", query = { "clientId", "fromDate", "toDate" } },
      { name = "download", method = "GET", path = "/api/integration/v2/biviews/{view_name}", id = "GET_BIView",
        title = "Download a page of a BI view as CSV or gzip", headers = { "continuation-token" },
        query = { "clientId", "fromDate", "toDate", "pagenum", "pageSize", "outputType" } },
      { name = "list_columns", method = "GET", path = "/api/integration/v2/biviews/{view_name}/describe-columns",
        id = "GET_ColumnList", title = "List the columns of a BI view" },
    } },
  },
}
