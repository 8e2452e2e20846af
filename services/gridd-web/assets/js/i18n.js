// Every visible string of the dashboard, in one table: Chinese (default) and English.
// t(key, params) looks a key up in the current language ({name} placeholders are replaced);
// a missing key falls back to Chinese, then to the key itself.

const STORAGE_KEY = 'gridd.lang';

const zh = {
  'app.title': '数字化城管指挥中心',
  'app.subtitle': '网格事件派遣工作台',
  'lang.switch': 'EN',
  'lang.switch.title': 'Switch to English',
  'wall.toggle': '大屏模式',
  'wall.toggle.off': '工作台模式',
  'wall.toggle.title': '切换深色高对比大屏布局',

  // sign-in
  'signin.title': '登录',
  'signin.username': '用户名',
  'signin.password': '密码',
  'signin.submit': '登录',
  'signin.busy': '正在登录…',
  'signin.required': '请输入用户名和密码',
  'signin.badCredentials': '用户名或密码错误',
  'signin.locked': '尝试次数过多，请稍后再试（约 {seconds} 秒）',
  'signin.lockedNoTime': '尝试次数过多，请稍后再试',
  'session.expired': '会话已过期，请重新登录',
  'session.signedOut': '已退出登录',

  // header
  'header.signOut': '退出',
  'header.search': '查找案卷',
  'header.search.placeholder': '案卷号或受理编号（按 / 聚焦）',
  'header.search.go': '查找',
  'header.search.pending': '该报告已受理，尚未立案，请稍后再试',
  'header.live': '实时',
  'header.updated': '更新于 {time}',

  // connection
  'conn.down': '连接已断开，正在重连…',

  // generic panel states
  'state.loading': '加载中…',
  'state.retry': '重试',
  'state.error': '加载失败：{message}',
  'error.network': '网络错误，无法连接服务器',
  'error.http': '服务器错误（HTTP {status}）',
  'error.permissionDenied': '无权执行此操作',
  'error.stale': '案件状态已变化，请刷新后重试',
  'close': '关闭',

  // map
  'map.title': '实时地图',
  'map.zoomIn': '放大',
  'map.zoomOut': '缩小',
  'map.reset': '全市',
  'map.loading': '地图加载中…',
  'map.empty': '暂无地图数据',
  'map.cellsLoading': '网格加载中…',
  'map.simplified': '已简化显示',
  'map.cellsCount': '网格 {shown}/{total}',
  'map.legend.none': '无案件',
  'map.legend.green': '绿灯',
  'map.legend.yellow': '黄灯',
  'map.legend.red': '红灯',
  'map.help': '拖动或方向键平移，滚轮或 +/- 缩放',
  'map.openCases': '在办案件 {n}',

  // cell panel
  'cell.title': '单元网格',
  'cell.code': '网格编码',
  'cell.community': '社区',
  'cell.street': '街道',
  'cell.responsible': '责任单位',
  'cell.responsible.default': '属地兜底',
  'cell.responsible.none': '暂无责任单位',
  'cell.openCases': '在办案件',
  'cell.noCases': '暂无在办案件',
  'cell.outside': '该点不在网格内',

  // KPIs
  'kpi.title': '综合评价',
  'kpi.today': '今日',
  'kpi.period': '本期',
  'kpi.thisMonth': '本月',
  'kpi.from': '从',
  'kpi.to': '至',
  'kpi.apply': '应用',
  'kpi.filed': '立案',
  'kpi.dispatched': '派遣',
  'kpi.closed': '结案',
  'kpi.onTimeDisposalRate': '按期处置率',
  'kpi.closureRate': '结案率',
  'kpi.onTimeClosureRate': '按期结案率',
  'kpi.reworkRate': '返工率',
  'kpi.extensionRate': '延期率',
  'kpi.overdueOpen': '当前超期',
  'kpi.overduePending': '超期未处置',
  'kpi.averageHandlingSeconds': '平均处置时长',
  'kpi.escalations': '督办（累计）',
  'kpi.merged': '并案 {n}',
  'kpi.empty': '暂无统计数据',
  'kpi.badRange': '结束日期不能早于开始日期',

  // leaderboard
  'board.title': '中队排行',
  'board.by': '排序指标',
  'board.empty': '暂无中队数据',

  // manual queue
  'manual.title': '人工派遣',
  'manual.empty': '暂无待派遣案件',
  'manual.suggested': '建议：{squad}',
  'manual.noSuggestion': '无建议中队',
  'manual.locating': '正在查询责任单位…',
  'manual.chooseSquad': '选择中队',
  'manual.dispatch': '派遣',
  'manual.dispatching': '派遣中…',
  'manual.dispatched': '已派遣至 {squad}',
  'manual.noLocation': '无位置',

  // overdue
  'overdue.title': '超期/督办',
  'overdue.empty': '暂无超期或督办案件',
  'overdue.late': '超期 {duration}',
  'overdue.left': '剩余 {duration}',
  'overdue.more': '另有 {n} 件未显示',

  // case view
  'case.title': '案卷详情',
  'case.id': '案卷号',
  'case.category': '类别',
  'case.state': '状态',
  'case.squad': '中队',
  'case.noSquad': '未派遣',
  'case.address': '地址',
  'case.description': '描述',
  'case.cell': '网格',
  'case.urgency': '紧急程度',
  'case.createdAt': '立案时间',
  'case.dispatchedAt': '派遣时间',
  'case.closedAt': '结案时间',
  'case.manualReason': '人工派遣原因',
  'case.routing': '派遣依据',
  'case.reports': '报告',
  'case.noReports': '暂无报告',
  'case.reference': '受理编号',
  'case.channel': '渠道',
  'case.receivedAt': '受理时间',
  'case.contact': '联系方式',
  'case.replyRequired': '需回访',
  'case.location': '位置',
  'case.noLocation': '无位置信息',
  'case.deadlines': '时限与预警',
  'case.stage': '当前阶段',
  'case.stageDeadline': '阶段时限',
  'case.handlingDeadline': '处置时限',
  'case.light': '预警灯',
  'case.overdue': '是否超期',
  'case.escalationLevel': '督办级别',
  'case.counts': '返工 {rework} 次 · 延期 {ext} 次 · 退回 {ret} 次',
  'case.photos': '照片',
  'case.noPhotos': '无照片',
  'case.resolution': '处置反馈',
  'case.resolutionNote': '处置说明',
  'case.resolvedAt': '反馈时间',
  'case.photoFailed': '照片无法加载',
  'case.history': '处理过程',
  'case.noHistory': '暂无处理记录',
  'case.actions': '操作',
  'case.noActions': '当前无可执行的操作',
  'case.pending': '该报告已受理，尚未立案，请稍后再试',
  'case.loading': '案卷加载中…',
  'case.done': '操作已完成',
  'case.closedNote': '案卷已办结，不再显示在地图上',
  'yes': '是',
  'no': '否',
  'none': '无',

  // action forms
  'action.dispatch': '派遣',
  'action.verify_pass': '核查通过',
  'action.verify_fail': '核查不通过',
  'action.close': '特殊结案',
  'action.cancel': '作废',
  'action.suspend': '挂账',
  'action.resume': '恢复',
  'action.extend': '延期',
  'action.accept': '签收',
  'action.start': '开始处置',
  'action.resolve': '处置完成',
  'action.return': '退回',
  'form.squad': '中队',
  'form.reason': '作废原因',
  'form.extension': '延长时间',
  'form.amount': '数量',
  'form.unit': '单位',
  'form.note': '备注',
  'form.note.placeholder': '可选，记入处理过程',
  'form.submit': '确定',
  'form.cancel': '取消',
  'form.busy': '提交中…',
  'form.chooseSquad': '请选择中队',
  'form.badAmount': '请输入不超过三位小数的正数',
  'unit.WH': '工作时',
  'unit.WD': '工作日',
  'unit.h': '小时（自然时）',
  'unit.min': '分钟',

  // enums
  'state.TICKET_STATE_UNSPECIFIED': '未知',
  'state.TICKET_STATE_REGISTERED': '立案',
  'state.TICKET_STATE_DISPATCHED': '已派遣',
  'state.TICKET_STATE_ACCEPTED': '已签收',
  'state.TICKET_STATE_IN_PROGRESS': '处置中',
  'state.TICKET_STATE_RETURNED': '退回',
  'state.TICKET_STATE_CHECKING': '核查中',
  'state.TICKET_STATE_REWORK': '返工',
  'state.TICKET_STATE_SUSPENDED': '挂账',
  'state.TICKET_STATE_CLOSED': '结案',
  'state.TICKET_STATE_CANCELLED': '作废',
  'channel.CHANNEL_UNSPECIFIED': '未知渠道',
  'channel.CHANNEL_HOTLINE': '热线',
  'channel.CHANNEL_CITIZEN': '市民上报',
  'channel.CHANNEL_PATROL': '监督员巡查',
  'channel.CHANNEL_CAMERA': '视频智能分析',
  'light.LIGHT_UNSPECIFIED': '无',
  'light.LIGHT_GREEN': '绿灯',
  'light.LIGHT_YELLOW': '黄灯',
  'light.LIGHT_RED': '红灯',
  'stage.STAGE_UNSPECIFIED': '无计时',
  'stage.STAGE_DISPATCH': '派遣',
  'stage.STAGE_HANDLING': '处置',
  'stage.STAGE_CHECK': '核查',
  'urgency.URGENCY_UNSPECIFIED': '一般',
  'urgency.URGENCY_NORMAL': '一般',
  'urgency.URGENCY_URGENT': '紧急',
  'manualReason.MANUAL_REASON_UNSPECIFIED': '待派遣',
  'manualReason.MANUAL_REASON_NO_LOCATION': '无位置',
  'manualReason.MANUAL_REASON_OUTSIDE_GRID': '网格外',
  'manualReason.MANUAL_REASON_NO_RESPONSIBLE_SQUAD': '无责任单位',
  'manualReason.MANUAL_REASON_RETURNED': '退回',
  'cancelReason.CANCEL_REASON_DUPLICATE': '重复案件',
  'cancelReason.CANCEL_REASON_INVALID': '无效/虚假信息',
  'cancelReason.CANCEL_REASON_OUT_OF_SCOPE': '不属于城管职责',
  'cancelReason.CANCEL_REASON_ALREADY_FIXED': '核查时已解决',
  'closeType.CLOSE_TYPE_NORMAL': '正常结案',
  'closeType.CLOSE_TYPE_OVERDUE': '超时结案',
  'closeType.CLOSE_TYPE_SPECIAL': '特殊结案',
  'escalation.reminder': '催办',
  'escalation.pressing': '督办',
  'escalation.yellow_card': '黄牌',
  'escalation.red_card': '红牌',
  'escalation.red_card_repeat': '红牌（重复）',
  'escalation.level.0': '无',
  'escalation.level.1': '催办',
  'escalation.level.2': '督办',
  'escalation.level.3': '黄牌',
  'escalation.level.4': '红牌',
  'escalation.level.more': '红牌（第 {n} 次）',
  'kind.filed': '立案',
  'kind.dispatched': '派遣',
  'kind.accepted': '签收',
  'kind.started': '开始处置',
  'kind.resolved': '处置完成',
  'kind.returned': '退回',
  'kind.check_passed': '核查通过',
  'kind.check_failed': '核查不通过',
  'kind.verified': '核查',
  'kind.rework': '返工',
  'kind.closed': '结案',
  'kind.cancelled': '作废',
  'kind.suspended': '挂账',
  'kind.resumed': '恢复',
  'kind.extended': '延期',
  'kind.escalated': '督办',
  'kind.accept_overdue': '签收超时',
  'kind.report_merged': '并案',
  'kind.merged': '并案',
  'actor.router': '自动派遣',
  'actor.timer': '计时器',

  'role.hotline_operator': '受理员',
  'role.dispatcher': '派遣员',
  'role.shift_leader': '值班长',
  'role.supervisor': '监督员',
  'role.squad_member': '队员',
  'role.squad_leader': '中队长',
  'role.leadership': '领导',
  'role.administrator': '系统管理员',
  'role.monitoring': '监控',

  // durations
  'dur.d': '{n}天',
  'dur.h': '{n}小时',
  'dur.m': '{n}分钟',
  'dur.lessMinute': '不足1分钟',
};

const en = {
  'app.title': 'City Management Command Centre',
  'app.subtitle': 'Grid event dispatch',
  'lang.switch': '中文',
  'lang.switch.title': '切换到中文',
  'wall.toggle': 'Wall mode',
  'wall.toggle.off': 'Desk mode',
  'wall.toggle.title': 'Toggle the dark high-contrast wall layout',

  'signin.title': 'Sign in',
  'signin.username': 'User name',
  'signin.password': 'Password',
  'signin.submit': 'Sign in',
  'signin.busy': 'Signing in…',
  'signin.required': 'Enter your user name and password',
  'signin.badCredentials': 'Wrong user name or password',
  'signin.locked': 'Too many attempts; please try again later (about {seconds} s)',
  'signin.lockedNoTime': 'Too many attempts; please try again later',
  'session.expired': 'Your session has expired; please sign in again',
  'session.signedOut': 'Signed out',

  'header.signOut': 'Sign out',
  'header.search': 'Find a case',
  'header.search.placeholder': 'Case number or report reference (press /)',
  'header.search.go': 'Find',
  'header.search.pending': 'The report was accepted but is not filed yet; try again shortly',
  'header.live': 'Live',
  'header.updated': 'Updated {time}',

  'conn.down': 'Connection lost, reconnecting…',

  'state.loading': 'Loading…',
  'state.retry': 'Retry',
  'state.error': 'Failed to load: {message}',
  'error.network': 'Network error: the server cannot be reached',
  'error.http': 'Server error (HTTP {status})',
  'error.permissionDenied': 'You are not allowed to do this',
  'error.stale': 'The case has changed; refresh and try again',
  'close': 'Close',

  'map.title': 'Live map',
  'map.zoomIn': 'Zoom in',
  'map.zoomOut': 'Zoom out',
  'map.reset': 'Whole city',
  'map.loading': 'Loading the map…',
  'map.empty': 'No map data',
  'map.cellsLoading': 'Loading cells…',
  'map.simplified': 'simplified',
  'map.cellsCount': 'Cells {shown}/{total}',
  'map.legend.none': 'No cases',
  'map.legend.green': 'Green',
  'map.legend.yellow': 'Yellow',
  'map.legend.red': 'Red',
  'map.help': 'Drag or arrow keys to pan, wheel or +/- to zoom',
  'map.openCases': 'Open cases {n}',

  'cell.title': 'Grid cell',
  'cell.code': 'Cell code',
  'cell.community': 'Community',
  'cell.street': 'Street',
  'cell.responsible': 'Responsible',
  'cell.responsible.default': 'territorial default',
  'cell.responsible.none': 'No responsible squad',
  'cell.openCases': 'Open cases',
  'cell.noCases': 'No open cases',
  'cell.outside': 'This point is outside the grid',

  'kpi.title': 'Performance',
  'kpi.today': 'Today',
  'kpi.period': 'Period',
  'kpi.thisMonth': 'This month',
  'kpi.from': 'From',
  'kpi.to': 'To',
  'kpi.apply': 'Apply',
  'kpi.filed': 'Filed',
  'kpi.dispatched': 'Dispatched',
  'kpi.closed': 'Closed',
  'kpi.onTimeDisposalRate': 'On-time disposal',
  'kpi.closureRate': 'Closure rate',
  'kpi.onTimeClosureRate': 'On-time closure',
  'kpi.reworkRate': 'Rework rate',
  'kpi.extensionRate': 'Extension rate',
  'kpi.overdueOpen': 'Overdue now',
  'kpi.overduePending': 'Overdue pending',
  'kpi.averageHandlingSeconds': 'Avg handling time',
  'kpi.escalations': 'Escalations (all time)',
  'kpi.merged': 'Merged {n}',
  'kpi.empty': 'No statistics yet',
  'kpi.badRange': 'The end date must not be before the start date',

  'board.title': 'Squad ranking',
  'board.by': 'Rank by',
  'board.empty': 'No squad data yet',

  'manual.title': 'Manual dispatch',
  'manual.empty': 'No cases waiting for dispatch',
  'manual.suggested': 'Suggested: {squad}',
  'manual.noSuggestion': 'No suggested squad',
  'manual.locating': 'Looking up the responsible squad…',
  'manual.chooseSquad': 'Choose a squad',
  'manual.dispatch': 'Dispatch',
  'manual.dispatching': 'Dispatching…',
  'manual.dispatched': 'Dispatched to {squad}',
  'manual.noLocation': 'No location',

  'overdue.title': 'Overdue / pressed',
  'overdue.empty': 'No overdue or pressed cases',
  'overdue.late': '{duration} late',
  'overdue.left': '{duration} left',
  'overdue.more': '{n} more not shown',

  'case.title': 'Case',
  'case.id': 'Case number',
  'case.category': 'Category',
  'case.state': 'State',
  'case.squad': 'Squad',
  'case.noSquad': 'Not dispatched',
  'case.address': 'Address',
  'case.description': 'Description',
  'case.cell': 'Cell',
  'case.urgency': 'Urgency',
  'case.createdAt': 'Filed at',
  'case.dispatchedAt': 'Dispatched at',
  'case.closedAt': 'Closed at',
  'case.manualReason': 'Manual dispatch reason',
  'case.routing': 'Routing',
  'case.reports': 'Reports',
  'case.noReports': 'No reports',
  'case.reference': 'Reference',
  'case.channel': 'Channel',
  'case.receivedAt': 'Received',
  'case.contact': 'Contact',
  'case.replyRequired': 'Reply required',
  'case.location': 'Location',
  'case.noLocation': 'No location',
  'case.deadlines': 'Time limits and lights',
  'case.stage': 'Stage',
  'case.stageDeadline': 'Stage deadline',
  'case.handlingDeadline': 'Handling deadline',
  'case.light': 'Light',
  'case.overdue': 'Overdue',
  'case.escalationLevel': 'Escalation',
  'case.counts': 'Rework {rework} · extensions {ext} · returns {ret}',
  'case.photos': 'Photos',
  'case.noPhotos': 'No photos',
  'case.resolution': 'Resolution',
  'case.resolutionNote': 'What was done',
  'case.resolvedAt': 'Resolved at',
  'case.photoFailed': 'The photo could not be loaded',
  'case.history': 'History',
  'case.noHistory': 'No history yet',
  'case.actions': 'Actions',
  'case.noActions': 'No action is available now',
  'case.pending': 'The report was accepted but is not filed yet; try again shortly',
  'case.loading': 'Loading the case…',
  'case.done': 'Done',
  'case.closedNote': 'The case is finished and no longer shown on the map',
  'yes': 'Yes',
  'no': 'No',
  'none': 'None',

  'action.dispatch': 'Dispatch',
  'action.verify_pass': 'Check passed',
  'action.verify_fail': 'Check failed',
  'action.close': 'Special close',
  'action.cancel': 'Cancel case',
  'action.suspend': 'Suspend',
  'action.resume': 'Resume',
  'action.extend': 'Extend',
  'action.accept': 'Accept',
  'action.start': 'Start',
  'action.resolve': 'Resolve',
  'action.return': 'Return',
  'form.squad': 'Squad',
  'form.reason': 'Reason',
  'form.extension': 'Extension',
  'form.amount': 'Amount',
  'form.unit': 'Unit',
  'form.note': 'Note',
  'form.note.placeholder': 'Optional, kept in the history',
  'form.submit': 'Confirm',
  'form.cancel': 'Cancel',
  'form.busy': 'Submitting…',
  'form.chooseSquad': 'Choose a squad',
  'form.badAmount': 'Enter a positive number with at most three decimals',
  'unit.WH': 'working hours',
  'unit.WD': 'working days',
  'unit.h': 'hours (clock)',
  'unit.min': 'minutes',

  'state.TICKET_STATE_UNSPECIFIED': 'Unknown',
  'state.TICKET_STATE_REGISTERED': 'Registered',
  'state.TICKET_STATE_DISPATCHED': 'Dispatched',
  'state.TICKET_STATE_ACCEPTED': 'Accepted',
  'state.TICKET_STATE_IN_PROGRESS': 'In progress',
  'state.TICKET_STATE_RETURNED': 'Returned',
  'state.TICKET_STATE_CHECKING': 'Checking',
  'state.TICKET_STATE_REWORK': 'Rework',
  'state.TICKET_STATE_SUSPENDED': 'Suspended',
  'state.TICKET_STATE_CLOSED': 'Closed',
  'state.TICKET_STATE_CANCELLED': 'Cancelled',
  'channel.CHANNEL_UNSPECIFIED': 'Unknown channel',
  'channel.CHANNEL_HOTLINE': 'Hotline',
  'channel.CHANNEL_CITIZEN': 'Citizen app',
  'channel.CHANNEL_PATROL': 'Patrol',
  'channel.CHANNEL_CAMERA': 'Camera AI',
  'light.LIGHT_UNSPECIFIED': 'None',
  'light.LIGHT_GREEN': 'Green',
  'light.LIGHT_YELLOW': 'Yellow',
  'light.LIGHT_RED': 'Red',
  'stage.STAGE_UNSPECIFIED': 'No clock',
  'stage.STAGE_DISPATCH': 'Dispatch',
  'stage.STAGE_HANDLING': 'Handling',
  'stage.STAGE_CHECK': 'Check',
  'urgency.URGENCY_UNSPECIFIED': 'Normal',
  'urgency.URGENCY_NORMAL': 'Normal',
  'urgency.URGENCY_URGENT': 'Urgent',
  'manualReason.MANUAL_REASON_UNSPECIFIED': 'Waiting',
  'manualReason.MANUAL_REASON_NO_LOCATION': 'No location',
  'manualReason.MANUAL_REASON_OUTSIDE_GRID': 'Outside the grid',
  'manualReason.MANUAL_REASON_NO_RESPONSIBLE_SQUAD': 'No responsible squad',
  'manualReason.MANUAL_REASON_RETURNED': 'Returned',
  'cancelReason.CANCEL_REASON_DUPLICATE': 'Duplicate',
  'cancelReason.CANCEL_REASON_INVALID': 'Invalid or false',
  'cancelReason.CANCEL_REASON_OUT_OF_SCOPE': 'Out of scope',
  'cancelReason.CANCEL_REASON_ALREADY_FIXED': 'Already fixed',
  'closeType.CLOSE_TYPE_NORMAL': 'Normal close',
  'closeType.CLOSE_TYPE_OVERDUE': 'Closed late',
  'closeType.CLOSE_TYPE_SPECIAL': 'Special close',
  'escalation.reminder': 'Reminder',
  'escalation.pressing': 'Pressing',
  'escalation.yellow_card': 'Yellow card',
  'escalation.red_card': 'Red card',
  'escalation.red_card_repeat': 'Red card (repeated)',
  'escalation.level.0': 'None',
  'escalation.level.1': 'Reminder',
  'escalation.level.2': 'Pressing',
  'escalation.level.3': 'Yellow card',
  'escalation.level.4': 'Red card',
  'escalation.level.more': 'Red card (×{n})',
  'kind.filed': 'Filed',
  'kind.dispatched': 'Dispatched',
  'kind.accepted': 'Accepted',
  'kind.started': 'Started',
  'kind.resolved': 'Resolved',
  'kind.returned': 'Returned',
  'kind.check_passed': 'Check passed',
  'kind.check_failed': 'Check failed',
  'kind.verified': 'Checked',
  'kind.rework': 'Rework',
  'kind.closed': 'Closed',
  'kind.cancelled': 'Cancelled',
  'kind.suspended': 'Suspended',
  'kind.resumed': 'Resumed',
  'kind.extended': 'Extended',
  'kind.escalated': 'Escalated',
  'kind.accept_overdue': 'Accept overdue',
  'kind.report_merged': 'Report merged',
  'kind.merged': 'Merged',
  'actor.router': 'auto dispatch',
  'actor.timer': 'timer',

  'role.hotline_operator': 'Hotline operator',
  'role.dispatcher': 'Dispatcher',
  'role.shift_leader': 'Shift leader',
  'role.supervisor': 'Supervisor',
  'role.squad_member': 'Squad member',
  'role.squad_leader': 'Squad leader',
  'role.leadership': 'Leadership',
  'role.administrator': 'Administrator',
  'role.monitoring': 'Monitoring',

  'dur.d': '{n} d',
  'dur.h': '{n} h',
  'dur.m': '{n} min',
  'dur.lessMinute': 'under 1 min',
};

const TABLE = { zh, en };
const listeners = new Set();

function initialLang() {
  try {
    const saved = localStorage.getItem(STORAGE_KEY);
    if (saved && TABLE[saved]) return saved;
  } catch { /* storage unavailable: default */ }
  return 'zh';
}

let lang = initialLang();

export function getLang() {
  return lang;
}

export function setLang(next) {
  if (!TABLE[next] || next === lang) return;
  lang = next;
  try { localStorage.setItem(STORAGE_KEY, next); } catch { /* ignore */ }
  document.documentElement.lang = next === 'zh' ? 'zh-CN' : 'en';
  applyI18n(document);
  for (const fn of listeners) fn(next);
}

export function toggleLang() {
  setLang(lang === 'zh' ? 'en' : 'zh');
}

/** Calls fn(lang) after every language change; returns an unsubscribe function. */
export function onLangChange(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

/** Adds an app's own strings (the terminal's, the console's) to the table. */
export function addStrings(zhStrings, enStrings) {
  Object.assign(zh, zhStrings);
  Object.assign(TABLE.en, enStrings);
}

export function has(key) {
  return key in TABLE[lang] || key in zh;
}

export function t(key, params) {
  let s = TABLE[lang][key];
  if (s === undefined) s = zh[key];
  if (s === undefined) return key;
  if (params) s = s.replace(/\{(\w+)\}/g, (m, k) => (k in params ? String(params[k]) : m));
  return s;
}

/** Translates an enum value with a prefix, e.g. tEnum('state', 'TICKET_STATE_CLOSED'). */
export function tEnum(prefix, value, fallback) {
  const key = `${prefix}.${value}`;
  if (value !== undefined && value !== null && value !== '' && has(key)) return t(key);
  if (fallback !== undefined) return fallback;
  return value ? String(value) : t(`${prefix}.${prefix === 'state' ? 'TICKET_STATE_UNSPECIFIED' : 'none'}`);
}

/** Label of an escalation level number on a ticket (1 reminder … 4 red card, then repeats). */
export function escalationLevelLabel(level) {
  const n = Number(level) || 0;
  if (n <= 4) return t(`escalation.level.${n}`);
  return t('escalation.level.more', { n: n - 3 });
}

/** Label of an escalation ladder name from GetStats (reminder, pressing, …, or a custom label). */
export function escalationNameLabel(name) {
  const key = `escalation.${name}`;
  return has(key) ? t(key) : name;
}

/** Static markup: data-i18n (text), data-i18n-placeholder, data-i18n-title, data-i18n-aria. */
export function applyI18n(root) {
  for (const el of root.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll('[data-i18n-placeholder]')) el.placeholder = t(el.dataset.i18nPlaceholder);
  for (const el of root.querySelectorAll('[data-i18n-title]')) el.title = t(el.dataset.i18nTitle);
  for (const el of root.querySelectorAll('[data-i18n-aria]')) el.setAttribute('aria-label', t(el.dataset.i18nAria));
  if (root === document) document.title = t('app.title');
}

document.documentElement.lang = lang === 'zh' ? 'zh-CN' : 'en';
