// Package webapp is the demo web application the stack's instances run:
// it says which region, AZ and instance answered, reports its health by
// reaching its database, stores keys in PostgreSQL or MySQL (chosen by the
// URL's scheme) through the writer endpoint and reads them through the
// reader endpoint, and burns CPU on request to drive the auto scaling
// alarms. It is configured only through
// environment variables, like any application hastack can launch.
package webapp
