// Everything of the client library in one include. Simple blocking programs
// only need sync_client.hpp (no Asio); coroutine programs need connection.hpp.
#pragma once

#include "junction/connection.hpp"
#include "junction/error.hpp"
#include "junction/packet.hpp"
#include "junction/provider.hpp"
#include "junction/socket_path.hpp"
#include "junction/sync_client.hpp"
