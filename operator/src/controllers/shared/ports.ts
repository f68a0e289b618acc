/** The ports every node pod listens on (the node image's defaults; Services and clients use them). */
export const P2P_PORT = 7000
export const API_PORT = 8080
export const ADMIN_PORT = 9090
