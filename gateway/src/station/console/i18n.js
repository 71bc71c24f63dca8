// Console texts: Chinese first (the duty officer's language), English second.
// t('key', { n: 3 }) replaces {n}. A key missing in English falls back to Chinese.

export const TEXTS = {
  zh: {
    title: '守望 · 派出所接警台',
    loginTitle: '接警台登录',
    username: '用户名',
    password: '密码',
    login: '登录',
    logout: '退出登录',
    loginFailed: '用户名或密码错误',
    loginLimited: '失败次数过多，请 {s} 秒后再试',
    loginError: '登录失败：{msg}',
    roleNotAllowed: '此账号无权使用接警台（需要民警或管理员角色）',
    langToggle: 'English',
    mute: '静音',
    unmute: '取消静音',
    enableSound: '点击启用警报声音',
    live: '实时',
    reconnecting: '连接中断，正在重连…',
    noAlarms: '暂无警情',
    lineLost: '线路中断：账户 {account}{name}，自 {time} 起无信号',
    account: '账户',
    zone: '防区',
    group: '分区',
    building: '楼栋',
    room: '房间',
    floor: '楼层',
    address: '地址',
    device: '设备',
    coordinates: '坐标',
    map: '地图',
    camera: '查看摄像头',
    pressedAt: '触发时间',
    receivedAt: '接收时间',
    elapsed: '已过',
    via: '来源',
    copies: '收到 {n} 次',
    restore: '恢复',
    silent: '无声报警',
    stateNew: '未确认',
    stateAcknowledged: '已确认接警（{by}，{time}）',
    stateDispatched: '已派警（{by}，{time}）',
    ack: '确认接警',
    dispatch: '已派警',
    ackFailed: '操作失败：{msg}',
    deliveryDelivered: '回执已送达网关',
    deliveryPending: '回执待送达（已尝试 {n} 次）',
    deliveryExpired: '回执送达失败：{err}',
    severityAlarm: '警情',
    severityTrouble: '故障',
    severityInfo: '信息',
    settings: '账户设置',
    changePassword: '修改密码',
    currentPassword: '当前密码',
    newPassword: '新密码（至少 8 位）',
    save: '保存',
    saved: '已保存',
    users: '用户管理',
    role: '角色',
    addUser: '添加用户',
    delete: '删除',
    roleAdmin: '管理员',
    roleManager: '管理员（村/房东）',
    roleTechnician: '技术员',
    rolePolice: '民警',
    firstAdminHint: '首次登录：请立即修改管理员初始密码。',
    unknownAccount: '（未登记账户）',
  },
  en: {
    title: 'Shouwang · Police alarm console',
    loginTitle: 'Console login',
    username: 'Username',
    password: 'Password',
    login: 'Log in',
    logout: 'Log out',
    loginFailed: 'Wrong username or password',
    loginLimited: 'Too many failed logins; try again in {s} s',
    loginError: 'Login failed: {msg}',
    roleNotAllowed: 'This account may not use the alarm console (police or admin role needed)',
    langToggle: '中文',
    mute: 'Mute',
    unmute: 'Unmute',
    enableSound: 'Click to enable the alarm sound',
    live: 'Live',
    reconnecting: 'Connection lost, reconnecting…',
    noAlarms: 'No alarms',
    lineLost: 'Line lost: account {account}{name}, silent since {time}',
    account: 'Account',
    zone: 'Zone',
    group: 'Group',
    building: 'Building',
    room: 'Room',
    floor: 'Floor',
    address: 'Address',
    device: 'Device',
    coordinates: 'Coordinates',
    map: 'Map',
    camera: 'Open camera',
    pressedAt: 'Pressed at',
    receivedAt: 'Received at',
    elapsed: 'Elapsed',
    via: 'Via',
    copies: 'received {n} times',
    restore: 'Restore',
    silent: 'Silent alarm',
    stateNew: 'Not acknowledged',
    stateAcknowledged: 'Acknowledged ({by}, {time})',
    stateDispatched: 'Officer dispatched ({by}, {time})',
    ack: 'Acknowledge',
    dispatch: 'Officer dispatched',
    ackFailed: 'Action failed: {msg}',
    deliveryDelivered: 'Acknowledgement delivered to the gateway',
    deliveryPending: 'Acknowledgement pending ({n} attempts)',
    deliveryExpired: 'Acknowledgement failed: {err}',
    severityAlarm: 'Alarm',
    severityTrouble: 'Trouble',
    severityInfo: 'Info',
    settings: 'Account settings',
    changePassword: 'Change password',
    currentPassword: 'Current password',
    newPassword: 'New password (8+ characters)',
    save: 'Save',
    saved: 'Saved',
    users: 'Users',
    role: 'Role',
    addUser: 'Add user',
    delete: 'Delete',
    roleAdmin: 'Admin',
    roleManager: 'Manager',
    roleTechnician: 'Technician',
    rolePolice: 'Police',
    firstAdminHint: 'First login: change the generated admin password now.',
    unknownAccount: ' (unregistered account)',
  },
};

let lang = 'zh';
try {
  const saved = localStorage.getItem('sw.lang');
  if (saved === 'en' || saved === 'zh') lang = saved;
} catch {
  // localStorage may be unavailable (privacy mode); Chinese stays the default.
}

export function getLang() {
  return lang;
}

export function setLang(next) {
  lang = next === 'en' ? 'en' : 'zh';
  try {
    localStorage.setItem('sw.lang', lang);
  } catch {
    // not persisted; fine
  }
  document.documentElement.lang = lang === 'zh' ? 'zh-CN' : 'en';
}

export function t(key, params = {}) {
  const text = TEXTS[lang][key] ?? TEXTS.zh[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, k) => (params[k] === undefined ? '' : String(params[k])));
}

/** Apply texts to every element carrying data-i18n (textContent) or data-i18n-placeholder. */
export function applyStatic(root = document) {
  for (const el of root.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll('[data-i18n-placeholder]')) el.placeholder = t(el.dataset.i18nPlaceholder);
}
