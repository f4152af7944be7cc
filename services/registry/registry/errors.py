"""The registry service's one error table: domain error → (HTTP status, stable code, Chinese message)."""

from shared.errors import COMMON_ERRORS, ErrorSpec, ErrorTable

from registry.domain.errors import (
    ElementsInvalidError,
    ImportFileError,
    ImportFileTooLargeError,
    ImportJobNotFoundError,
    ImportTooLargeError,
    InvalidCursorError,
    ItemCancelledError,
    ItemNotFoundError,
    MalformedRevisionError,
    MalformedUploadError,
    RevisionNotFoundError,
    RevisionRequiredError,
    SourceRefTakenError,
    UnsupportedFormatError,
)

ERRORS = ErrorTable({
    **COMMON_ERRORS,
    ItemNotFoundError: ErrorSpec(404, "ITEM_NOT_FOUND", "未找到事项“{item_id}”"),
    RevisionNotFoundError: ErrorSpec(
        404, "REVISION_NOT_FOUND", "事项“{item_id}”没有第 {revision} 版（最新为第 {latest} 版）"),
    ElementsInvalidError: ErrorSpec(422, "ELEMENTS_INVALID", "事项要素未通过校验，共 {count} 处问题"),
    RevisionRequiredError: ErrorSpec(
        428, "IF_MATCH_REQUIRED", "修改事项须在 If-Match 请求头中给出所修改的版本号（读取事项时 ETag 中给出）"),
    MalformedRevisionError: ErrorSpec(400, "IF_MATCH_MALFORMED", "If-Match 应为版本号（如 3），收到的是“{value}”"),
    ItemCancelledError: ErrorSpec(409, "ITEM_CANCELLED", "事项“{name}”已注销，内容不能再修改"),
    SourceRefTakenError: ErrorSpec(
        409, "SOURCE_REF_TAKEN",
        "来源编号“{source_ref}”在区划 {region_code} 已由事项 {item_id} 使用，且内容不同；修改该事项请用 PUT"),
    InvalidCursorError: ErrorSpec(422, "INVALID_CURSOR", "分页游标无效，请从第一页重新查询"),
    ImportJobNotFoundError: ErrorSpec(404, "IMPORT_JOB_NOT_FOUND", "未找到导入任务“{job_id}”"),
    ImportTooLargeError: ErrorSpec(413, "IMPORT_TOO_LARGE", "导入文件超过 {limit_mb} MB，请拆分后分批导入"),
    UnsupportedFormatError: ErrorSpec(
        415, "UNSUPPORTED_IMPORT_FORMAT",
        "无法识别的文件格式“{format}”：请上传 xlsx、csv（UTF-8 或 GB18030）或 ndjson"),
    ImportFileError: ErrorSpec(422, "IMPORT_FILE_UNREADABLE", "{reason}"),
    ImportFileTooLargeError: ErrorSpec(422, "IMPORT_FILE_TOO_LARGE_EXPANDED", "{reason}"),
    MalformedUploadError: ErrorSpec(400, "IMPORT_UPLOAD_MALFORMED", "{reason}"),
})
