// The one translation unit that compiles Beast and Asio's TLS layer.
#include <boost/asio/ssl/impl/src.hpp>
#include <boost/beast/src.hpp>
